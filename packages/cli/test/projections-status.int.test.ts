import { resolve } from 'node:path'
import type { RecordedEvent } from '@annals/core'
import {
  type AnyProjection,
  createProjectionAdmin,
  createProjectionRunner,
  migrateProjections,
  type ProjectionRunner,
} from '@annals/projections'
import { startThrowawayPostgres, type ThrowawayPostgres } from '@annals/store-postgres/testing'
import { REDIS_URL, testRedis, uniqueKeyPrefix, waitFor } from '@annals/test-support'
import pg from 'pg'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pgStore } from '../../projections/test/store.js'
import config from './fixtures/annals.config.js'
import { runAnnals } from './run-annals.js'

// One test holds a transaction open. The log's fence is server-wide, so the suite runs on a private
// PostgreSQL cluster: on the shared server it would hold back every other test file's readers.
let server: ThrowawayPostgres
let pool: pg.Pool
let env: Record<string, string>
const keyPrefix = uniqueKeyPrefix('annals-cli-status')
const redis = testRedis(keyPrefix)
const fixtures = resolve(import.meta.dirname, 'fixtures')
const annals = (...args: string[]) => runAnnals(args, env, fixtures)

beforeAll(async () => {
  server = await startThrowawayPostgres()
  pool = new pg.Pool({ connectionString: server.connectionString, max: 8 })
  pool.on('error', () => undefined)
  await pgStore.migrate({ pool, schema: 'annals' })
  await migrateProjections({ pool })
  env = { DATABASE_URL: server.connectionString, REDIS_URL, TEST_KEY_PREFIX: keyPrefix, ANNALS_LOG_LEVEL: 'silent' }
}, 120_000)

afterAll(async () => {
  await redis.close()
  await server?.stop()
  await pool?.end().catch(() => undefined)
})

const store = () => pgStore.createPostgresEventStore({ pool, schema: 'annals' })
const configured = () =>
  config({ pool, redis: () => redis, env: { ...process.env, TEST_KEY_PREFIX: keyPrefix } })
    .projections as readonly AnyProjection[]

/** A runner of the config's projections; deposit-rows refuses negative amounts while `poisoned()`. */
function runnerOf(poisoned: () => boolean): ProjectionRunner {
  const projections = configured().map(
    (p): AnyProjection =>
      p.name === 'deposit-rows'
        ? {
            ...p,
            handle: async (e: RecordedEvent, ctx: unknown) => {
              if ((e.data as { amount: number }).amount < 0 && poisoned()) throw new Error('negative deposit')
              await p.handle(e, ctx)
            },
          }
        : p,
  )
  return createProjectionRunner({
    pool,
    store: store(),
    projections,
    logger: pino({ level: 'silent' }),
    pollIntervalMs: 50,
    controlIntervalMs: 50,
    retry: { maxAttempts: 1 },
  })
}

const total = async (stream: string) =>
  (await pool.query<{ total: string }>('SELECT total FROM rm.deposits WHERE stream = $1', [stream])).rows[0]?.total

describe('annals projections status and dlq retry (in process, private Postgres server)', () => {
  it('shows a projection held behind the fence by a session in another database: pid, database, age, query', async () => {
    const runner = runnerOf(() => false)
    await runner.start()
    // The fence is server-wide: an idle-in-transaction session of another database holds every reader.
    await pool.query('CREATE DATABASE scratch')
    const url = new URL(server.connectionString)
    url.pathname = '/scratch'
    const held = new pg.Client({ connectionString: url.toString(), application_name: 'annals-test-holder' })
    await held.connect()
    let holding = false
    try {
      await store().appendToStream('fence-a', [{ type: 'Deposited', data: { amount: 1 } }])
      await runner.waitUntilIdle()
      await held.query('BEGIN')
      holding = true
      await held.query('SELECT pg_current_xact_id() AS held_here')
      const pid = (held as unknown as { processID: number }).processID
      for (let i = 0; i < 2; i++) await store().appendToStream('fence-a', [{ type: 'Deposited', data: { amount: 1 } }])
      await waitFor('both held in the published status', async () => {
        const status = await createProjectionAdmin({ pool }).status()
        return status.every((s) => s.state === 'held' && s.lagEvents === 2)
      })
      const table = await annals('projections', 'status')
      expect(table.stderr).toBe('')
      expect(table.stdout).toMatch(/deposits\s+held\s+1\s+1\s+\S+\s+2\s/)
      const transactionId = (await createProjectionAdmin({ pool }).status())[0]?.fence?.holder?.transactionId
      expect(table.stdout).toContain(
        `deposits: 2 committed event(s) held back by transaction ${transactionId}\n` +
          `  pid ${pid}, database scratch, application "annals-test-holder", idle in transaction, open `,
      )
      expect(table.stdout).toContain('  query: SELECT pg_current_xact_id() AS held_here\n')
      const json = JSON.parse((await annals('projections', 'status', '--json')).stdout) as {
        name: string
        state: string
        lagEvents: number
        fence: { heldEvents: number; holder: { pid: number; database: string; query: string } }
      }[]
      expect(
        json.map((s) => [
          s.name,
          s.state,
          s.lagEvents,
          s.fence.heldEvents,
          s.fence.holder.pid,
          s.fence.holder.database,
        ]),
      ).toEqual([
        ['deposit-rows', 'held', 2, 2, pid, 'scratch'],
        ['deposits', 'held', 2, 2, pid, 'scratch'],
      ])
      expect(json[0]?.fence.holder.query).toBe('SELECT pg_current_xact_id() AS held_here')
      await held.query('COMMIT')
      holding = false
      await waitFor('live again', async () => (await total('fence-a')) === '3')
    } finally {
      if (holding) await held.query('ROLLBACK').catch(() => undefined)
      await held.end()
      await runner.stop()
    }
  })

  it('shows a cleanly stopped projection as stopped, with the checkpoint it reached', async () => {
    const runner = runnerOf(() => false)
    await runner.start()
    await store().appendToStream('stop-a', [{ type: 'Deposited', data: { amount: 2 } }])
    await waitFor('applied', async () => (await total('stop-a')) === '2')
    await runner.waitUntilIdle()
    const reached = new Map(runner.status().map((s) => [s.name, s.checkpoint]))
    await runner.stop()
    const json = JSON.parse((await annals('projections', 'status', '--json')).stdout) as {
      name: string
      state: string
      owner: string | null
      checkpoint: { transactionId: string; position: string } | null
    }[]
    const text = (cp: { transactionId: bigint; position: bigint } | null | undefined) =>
      cp ? { transactionId: cp.transactionId.toString(), position: cp.position.toString() } : null
    expect(json.map((s) => [s.name, s.state, s.owner, s.checkpoint])).toEqual([
      ['deposit-rows', 'stopped', null, text(reached.get('deposit-rows'))],
      ['deposits', 'stopped', null, text(reached.get('deposits'))],
    ])
  })

  it('replays dead letters itself when no worker owns their projection, and reports the outcome', async () => {
    let poisoned = true
    const runner = runnerOf(() => poisoned)
    await runner.start()
    try {
      await store().appendToStream('dlq-a', [{ type: 'Deposited', data: { amount: -1 } }])
      await store().appendToStream('dlq-a', [{ type: 'Deposited', data: { amount: 5 } }])
      await waitFor('parked', async () => (await createProjectionAdmin({ pool }).listDeadLetters()).length === 2)
    } finally {
      await runner.stop()
    }
    poisoned = false
    const marked = await annals('dlq', 'retry', '--no-wait')
    expect(marked.stdout).toBe(
      '2 dead letter(s) marked for replay\ndeposit-rows: no worker owns it: the letters stay marked until a worker for it starts\n',
    )
    expect(await total('dlq-a')).toBeUndefined()
    const retried = await annals('dlq', 'retry', '--projection', 'deposit-rows')
    expect(retried.stderr).toBe('')
    expect(retried.stdout).toBe(
      '2 dead letter(s) marked for replay\n' +
        'deposit-rows: no worker owns it: running it here until the replay is done\n' +
        'deposit-rows: 2 replayed, 0 still parked\n',
    )
    expect(await total('dlq-a')).toBe('4')
    expect(await createProjectionAdmin({ pool }).listDeadLetters()).toEqual([])
  })

  it('shows each partition of a partitioned projection (owner, lease, checkpoint, lag), and what an older or newer config version means', async () => {
    const splitEnv = { TEST_PARTITIONS: '4', TEST_SPLIT_VERSION: '2' }
    const split = () =>
      config({
        pool,
        redis: () => redis,
        env: { ...process.env, TEST_KEY_PREFIX: keyPrefix, ...splitEnv },
      }).projections.filter((p) => p.name === 'deposits-split') as AnyProjection[]
    const runners = ['worker-a', 'worker-b'].map((workerId) =>
      createProjectionRunner({
        pool,
        store: store(),
        projections: split(),
        workerId,
        logger: pino({ level: 'silent' }),
        leaseTtlMs: 1500,
        pollIntervalMs: 50,
        controlIntervalMs: 50,
      }),
    )
    for (const r of runners) await r.start()
    try {
      for (const stream of ['split-a', 'split-b', 'split-c', 'split-d', 'split-e', 'split-f'])
        await store().appendToStream(stream, [{ type: 'Deposited', data: { amount: 3 } }])
      // The status table shows what the owners reported at their last renewal: wait until that is what they hold.
      const held = await waitFor('every partition owned and reported as applied', async () => {
        const owned = runners.flatMap((r) => r.partitions().map((p) => ({ ...p, owner: r.workerId })))
        if (owned.length !== 4 || owned.some((p) => p.state !== 'live' || p.checkpoint === null)) return null
        const shared = (await createProjectionAdmin({ pool }).status(split())).find((s) => s.name === 'deposits-split')
        const same = owned.every((p) => {
          const q = shared?.partitions[p.partition]
          return (
            q?.owner === p.owner &&
            q.lagEvents === 0 &&
            q.checkpoint?.position === p.checkpoint?.position &&
            q.checkpoint?.transactionId === p.checkpoint?.transactionId
          )
        })
        return same ? owned.sort((a, b) => a.partition - b.partition) : null
      })
      const table = await runAnnals(['projections', 'status'], { ...env, ...splitEnv }, fixtures)
      expect(table.stderr).toBe('')
      expect(table.stdout).toContain('deposits-split: 4 partitions, generation 1\n')
      for (const p of held) {
        const cp = `${p.checkpoint?.transactionId}/${p.checkpoint?.position}`
        expect(table.stdout).toMatch(
          new RegExp(`\\n${p.partition}\\s+${p.owner}\\s+expires in \\S+\\s+\\S+\\s+live\\s+${cp}\\s+0\\s`),
        )
      }
      // Without the config's definition the registry's partition count still lists the partitions.
      expect((await annals('projections', 'status')).stdout).toMatch(/deposits-split\s+live\s+1\s+2\s+per partition\s/)
      const json = JSON.parse((await annals('projections', 'status', '--json')).stdout) as {
        name: string
        partitionCount: number | null
        owner: string | null
        partitions: { partition: number; owner: string | null; lagEvents: number | null; deadLetters: number }[]
      }[]
      const s = json.find((x) => x.name === 'deposits-split')
      expect(s?.partitionCount).toBe(4)
      expect(s?.owner).toBe('worker-a,worker-b')
      expect(s?.partitions.map((p) => [p.partition, p.owner, p.lagEvents, p.deadLetters])).toEqual(
        held.map((p) => [p.partition, p.owner, 0, 0]),
      )
      // The config of an old deploy (version 1 beside a live 2) stands by; a newer one rebuilds.
      const older = await runAnnals(
        ['projections', 'status'],
        { ...env, ...splitEnv, TEST_SPLIT_VERSION: '1' },
        fixtures,
      )
      expect(older.stdout).toMatch(/deposits-split\s+live\s+1\s+2 \(config 1: superseded by 2\)\s/)
      const newer = await runAnnals(
        ['projections', 'status'],
        { ...env, ...splitEnv, TEST_SPLIT_VERSION: '3' },
        fixtures,
      )
      expect(newer.stdout).toMatch(/deposits-split\s+live\s+1\s+2 \(config 3: rebuild due\)\s/)
    } finally {
      await Promise.all(runners.map((r) => r.stop()))
    }
    // Stopped cleanly: every lease released, each partition keeps the checkpoint its last owner reached.
    const stopped = await runAnnals(['projections', 'status'], { ...env, ...splitEnv }, fixtures)
    expect(stopped.stdout).toMatch(/deposits-split\s+stopped\s/)
    for (let partition = 0; partition < 4; partition++)
      expect(stopped.stdout).toMatch(
        new RegExp(
          `\\n${partition}\\s+- \\(was worker-[ab]\\)\\s+expired \\S+ ago\\s+-\\s+stopped\\s+\\d+/\\d+\\s+-\\s+-\\s+0\\s`,
        ),
      )
  })
})
