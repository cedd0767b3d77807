import { resolve } from 'node:path'
import { type AnyProjection, createProjectionRunner, migrateProjections } from '@annals/projections'
import { REDIS_URL, testRedis, uniqueKeyPrefix, waitFor } from '@annals/test-support'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { pgStore } from '../../projections/test/store.js'
import config from './fixtures/annals.config.js'
import { runAnnals, useCliDatabase } from './run-annals.js'

const fixtures = resolve(import.meta.dirname, 'fixtures')
const keyPrefix = uniqueKeyPrefix('annals-cli-partitions')
const redis = testRedis(keyPrefix)
const cli = useCliDatabase('annals_cli_partitions', async (db) => {
  await pgStore.migrate({ pool: db.pool, schema: 'annals' })
  await migrateProjections({ pool: db.pool })
})

afterAll(async () => {
  await redis.close()
})

const STREAMS = 20
const PER_STREAM = 10

describe('annals projections rebuild of a partitioned projection (in process, real Postgres and Redis)', () => {
  const env = (partitions: number) => ({
    ...cli.env,
    REDIS_URL,
    TEST_KEY_PREFIX: keyPrefix,
    TEST_PARTITIONS: String(partitions),
    ANNALS_LOG_LEVEL: 'silent',
  })
  const split = (partitions: number) =>
    config({ pool: cli.db.pool, redis: () => redis, env: env(partitions) }).projections.filter(
      (p) => p.name === 'deposits-split',
    ) as AnyProjection[]
  const registry = async () =>
    (
      await cli.db.pool.query<{ g: number; n: number | null }>(
        `SELECT live_generation AS g, live_partitions AS n FROM annals.projections WHERE name = 'deposits-split'`,
      )
    ).rows[0]
  const totals = async () => {
    const g = await redis.get(`${keyPrefix}{deposits-split}:live`)
    const out: string[] = []
    for (let k = 0; k < STREAMS; k++)
      out.push((await redis.hget(`${keyPrefix}{deposits-split}:g${g}:k:split-${k}`, 'total')) ?? '-')
    return out
  }

  it('says that a new partition count is a rebuild into a new generation, shows progress per partition and in total, and goes live', async () => {
    const store = pgStore.createPostgresEventStore({ pool: cli.db.pool, schema: 'annals' })
    for (let i = 0; i < PER_STREAM; i++)
      await store.appendToStreams(
        Array.from({ length: STREAMS }, (_, k) => ({
          streamId: `split-${k}`,
          events: [{ type: 'Deposited', data: { amount: 1 } }],
        })),
      )
    const first = createProjectionRunner({
      pool: cli.db.pool,
      store,
      projections: split(4),
      logger: pino({ level: 'silent' }),
      pollIntervalMs: 50,
      controlIntervalMs: 50,
    })
    await first.start()
    try {
      await waitFor('generation 1 built with 4 partitions', async () =>
        (await totals()).every((t) => t === String(PER_STREAM)),
      )
    } finally {
      await first.stop()
    }
    expect(await registry()).toEqual({ g: 1, n: 4 })

    const resized = await runAnnals(['projections', 'rebuild', 'deposits-split'], env(8), fixtures)
    expect(resized.stderr).not.toContain('error')
    expect(resized.status).toBe(0)
    expect(resized.stdout).toContain(
      'deposits-split: the partition count changes (4 partitions → 8 partitions): this is a rebuild into a new generation; ' +
        'generation 1 (4 partitions) serves readers until the new one has caught up, then readers switch at once\n',
    )
    const total = STREAMS * PER_STREAM
    expect(resized.stderr).toMatch(
      new RegExp(
        `deposits-split \\[.*\\] 100% \\| ${total}/${total} events \\| \\d+ ev/s \\| ETA .* \\| 8/8 partitions caught up`,
      ),
    )
    expect(resized.stdout).toContain('deposits-split: generation 2 live (version 1)\n')
    expect(await registry()).toEqual({ g: 2, n: 8 })
    expect(await totals()).toEqual(Array.from({ length: STREAMS }, () => String(PER_STREAM)))

    // The same count again: a plain rebuild, nothing to say about partitions.
    const again = await runAnnals(['projections', 'rebuild', 'deposits-split'], env(8), fixtures)
    expect(again.status).toBe(0)
    expect(again.stdout).not.toContain('partition count')
    expect(again.stdout).toContain('deposits-split: generation 3 live (version 1)\n')
    expect(await registry()).toEqual({ g: 3, n: 8 })
  })
})
