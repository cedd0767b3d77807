import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { RecordedEvent } from '@annals/core'
import { type AnyProjection, createProjectionRunner, migrateProjections } from '@annals/projections'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import { REDIS_URL, runTs, testRedis, uniqueKeyPrefix } from '@annals/test-support'
import type pg from 'pg'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pgStore } from '../../projections/test/store.js'
import config from './fixtures/annals.config.js'

const bin = resolve(import.meta.dirname, '../src/bin.ts')
const fixtures = resolve(import.meta.dirname, 'fixtures')

const annals = (args: readonly string[], env: Record<string, string | undefined>, cwd = fixtures) =>
  runTs(bin, { args, env: { ANNALS_LOG_LEVEL: 'silent', ...env }, cwd, timeoutMs: 60_000 })

describe('annals CLI (spawned, real Postgres and Redis)', () => {
  const keyPrefix = uniqueKeyPrefix('annals-cli')
  let db: TestDatabase
  let env: Record<string, string>
  let pool: pg.Pool
  let redis: ReturnType<typeof testRedis>
  beforeAll(async () => {
    db = await createTestDatabase('annals_cli')
    pool = db.pool
    env = { DATABASE_URL: db.connectionString, REDIS_URL, TEST_KEY_PREFIX: keyPrefix }
    redis = testRedis(keyPrefix)
  })
  afterAll(async () => {
    await redis?.close()
    await db?.drop()
  })

  it('reports a missing config with its code', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'annals-cli-'))
    const r = await annals(['projections', 'list'], env, empty)
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('error ANNALS_CLI_ERR_CONFIG_NOT_FOUND')
    expect(r.stderr).toContain('annals.config.ts')
  })

  it('reports a config that exports no projections', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'annals-cli-'))
    writeFileSync(join(dir, 'annals.config.mjs'), 'export default { projections: 3 }\n')
    const r = await annals(['projections', 'list'], env, dir)
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('error ANNALS_CLI_ERR_CONFIG_INVALID')
  })

  it('reports an unreachable server and a missing DATABASE_URL', async () => {
    const down = await annals(['projections', 'status'], { ...env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/x' })
    expect(down.status).toBe(1)
    expect(down.stderr).toContain('error ANNALS_CLI_ERR_UNREACHABLE')
    expect(down.stderr).toContain('postgres')
    const missing = await annals(['projections', 'status'], { ...env, DATABASE_URL: '' })
    expect(missing.stderr).toContain('error ANNALS_CLI_ERR_MISSING_ENV')
  })

  it('says to migrate when the tables are missing', async () => {
    const r = await annals(['dlq', 'list'], env)
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('error ANNALS_CLI_ERR_NOT_MIGRATED')
  })

  it('migrates the store and the projection tables', async () => {
    const migrated = await annals(['migrate'], env)
    expect(migrated.stderr).toBe('')
    expect(migrated.status).toBe(0)
    expect(migrated.stdout).toContain('0001-projections')
    const again = await annals(['migrate'], env)
    expect(again.stdout).toContain('up to date')
  })

  it('lists projections of a TypeScript config and shows their status as a table or JSON', async () => {
    await pgStore.migrate({ pool, schema: 'annals' })
    await migrateProjections({ pool })
    const list = await annals(['projections', 'list'], env)
    expect(list.stderr).toBe('')
    expect(list.status).toBe(0)
    expect(list.stdout).toMatch(/^NAME\s+VERSION/)
    expect(list.stdout).toContain('deposits')
    expect(list.stdout).toContain('deposit-rows')
    const status = await annals(['projections', 'status', '--json'], env)
    expect(status.status).toBe(0)
    const parsed = JSON.parse(status.stdout) as { name: string; state: string }[]
    expect(parsed.map((s) => [s.name, s.state])).toEqual([
      ['deposit-rows', 'new'],
      ['deposits', 'new'],
    ])
  })

  it('shows live status, rebuilds through the owning worker with progress, and lists and retries dead letters', async () => {
    await pgStore.migrate({ pool, schema: 'annals' })
    await migrateProjections({ pool })
    const store = pgStore.createPostgresEventStore({ pool, schema: 'annals' })
    for (let i = 0; i < 40; i++) {
      await store.appendToStream(`acc-${i % 4}`, [{ type: 'Deposited', data: { amount: i === 13 ? -1 : 2 } }])
    }
    const { projections } = config({ pool, redis: () => redis, env: { ...process.env, TEST_KEY_PREFIX: keyPrefix } })
    // A worker that owns both projections; deposit-rows refuses negative amounts (a poison event).
    const guarded = (projections as readonly AnyProjection[]).map(
      (p): AnyProjection =>
        p.name === 'deposit-rows'
          ? {
              ...p,
              handle: async (e: RecordedEvent, ctx: unknown) => {
                if ((e.data as { amount: number }).amount < 0 && !fixed) throw new Error('negative deposit')
                await p.handle(e, ctx)
              },
            }
          : p,
    )
    let fixed = false
    const runner = createProjectionRunner({
      pool,
      store,
      projections: guarded,
      logger: pino({ level: 'silent' }),
      pollIntervalMs: 50,
      controlIntervalMs: 100,
      retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 2 },
    })
    await runner.start()
    try {
      await runner.waitUntilIdle()
      const table = await annals(['projections', 'status'], env)
      expect(table.status).toBe(0)
      expect(table.stdout).toMatch(/^NAME\s+STATE\s+GEN/)
      expect(table.stdout).toMatch(/deposits\s+live\s+1/)
      expect(table.stdout).toContain(runner.workerId)

      const rebuilt = await annals(['projections', 'rebuild', 'deposits'], env)
      expect(rebuilt.stderr).toContain('deposits [')
      expect(rebuilt.stdout).toContain('deposits: generation 2 live')
      expect(rebuilt.status).toBe(0)

      const letters = await annals(['dlq', 'list', '--json'], env)
      const parsed = JSON.parse(letters.stdout) as {
        id: string
        projection: string
        streamId: string
        reason: string
      }[]
      expect(parsed.map((l) => [l.projection, l.streamId, l.reason])).toEqual([
        ['deposit-rows', 'acc-1', 'failed'],
        ['deposit-rows', 'acc-1', 'blocked'],
        ['deposit-rows', 'acc-1', 'blocked'],
        ['deposit-rows', 'acc-1', 'blocked'],
        ['deposit-rows', 'acc-1', 'blocked'],
        ['deposit-rows', 'acc-1', 'blocked'],
        ['deposit-rows', 'acc-1', 'blocked'],
      ])
      fixed = true
      const retried = await annals(['dlq', 'retry', '--id', parsed[0]?.id ?? ''], env)
      expect(retried.stdout).toContain('1 dead letter(s) marked for replay')
      // It waits for the owner's replay of the stream (the marked letter and the six behind it).
      expect(retried.stdout).toContain(`deposit-rows: worker ${runner.workerId} replays them at its next control tick`)
      expect(retried.stdout).toContain('deposit-rows: 7 replayed, 0 still parked')
      const deadline = Date.now() + 10_000
      while ((await pool.query(`SELECT total FROM rm.deposits WHERE stream = 'acc-1'`)).rows[0]?.total !== '17') {
        if (Date.now() > deadline) throw new Error('replay did not converge')
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const none = await annals(['dlq', 'list'], env)
      expect(none.stdout.trim().split('\n')).toHaveLength(1)
    } finally {
      await runner.stop()
    }
  })

  it('rebuilds --all itself when no worker owns the projections, with a progress bar, and goes live', async () => {
    await pgStore.migrate({ pool, schema: 'annals' })
    await migrateProjections({ pool })
    const store = pgStore.createPostgresEventStore({ pool, schema: 'annals' })
    for (let i = 0; i < 20; i++) {
      await store.appendToStreams(
        Array.from({ length: 10 }, (_, k) => ({
          streamId: `all-${k}`,
          events: [{ type: 'Deposited', data: { amount: 1 } }],
        })),
      )
    }
    const before = await pool.query<{ name: string; live_generation: number }>(
      'SELECT name, live_generation FROM annals.projections ORDER BY name',
    )
    const r = await annals(['projections', 'rebuild', '--all'], env)
    expect(r.stderr).not.toContain('error')
    expect(r.status).toBe(0)
    expect(r.stderr).toMatch(/deposits \[.*\] 100% \| \d+\/\d+ events \| \d+ ev\/s \| ETA/)
    const after = await pool.query<{ name: string; live_generation: number; building_generation: number | null }>(
      'SELECT name, live_generation, building_generation FROM annals.projections ORDER BY name',
    )
    const previous = new Map(before.rows.map((row) => [row.name, row.live_generation]))
    for (const row of after.rows) {
      expect(row.building_generation).toBeNull()
      expect(row.live_generation).toBe((previous.get(row.name) ?? 0) + 1)
      expect(r.stdout).toContain(`${row.name}: generation ${row.live_generation} live`)
    }
    const { rows } = await pool.query(`SELECT total::int FROM rm.deposits WHERE stream = 'all-3'`)
    expect(rows[0]?.total).toBe(20)
    // The CLI released the leases when it finished.
    const leases = await pool.query('SELECT count(*)::int AS n FROM annals.projection_leases WHERE expires_at > now()')
    expect(leases.rows[0]?.n).toBe(0)
  })

  it('rejects an unknown projection with its code', async () => {
    const r = await annals(['projections', 'rebuild', 'nope'], env)
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('error ANNALS_PROJ_ERR_UNKNOWN_PROJECTION')
    expect(r.stderr).toContain('deposits')
    const usage = await annals(['projections', 'rebuild'], env)
    expect(usage.status).toBe(2)
    expect(usage.stderr).toContain('ANNALS_CLI_ERR_USAGE')
  })
})
