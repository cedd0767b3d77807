import type { Event, EventStore } from '@annals/core'
import { waitFor } from '@annals/test-support'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { postgresTotals, useProjectionsTestBed, waitUntilApplied } from '../test/helpers.js'
import { createProjectionAdmin } from './admin.js'
import { defineProjection } from './projection.js'
import { createRedisReadModel, createRedisSink, type RedisWriter } from './sinks/redis-sink.js'

type Deposited = Event<'Deposited', { amount: number }>
/** Runs `step` again and again in the background; the returned function stops it and waits for the last run. */
function repeatUntilStopped(step: () => Promise<unknown>): () => Promise<void> {
  let repeating = true
  const done = (async () => {
    while (repeating) await step()
  })()
  return () => {
    repeating = false
    return done
  }
}

describe('zero-downtime rebuild (real Postgres store and Redis)', () => {
  const bed = useProjectionsTestBed()

  const counter = (version: number, factor: number, keyPrefix: string) =>
    defineProjection({
      name: 'totals',
      version,
      handles: ['Deposited'] as const,
      sink: createRedisSink({ redis: bed.r.redis, keyPrefix }),
      handlers: {
        Deposited: (e, w: RedisWriter) => w.hincrby(e.streamId, 'total', (e.data as Deposited['data']).amount * factor),
      },
    })

  async function appendSome(store: EventStore, n: number) {
    for (let i = 0; i < n; i++) await store.appendToStream(`acc-${i % 5}`, [{ type: 'Deposited', data: { amount: 1 } }])
  }

  it('builds the new version beside the live one while appends continue and readers never miss', async () => {
    const store = bed.store
    const watcher = await bed.watcher()
    const v1 = counter(1, 1, bed.r.keyPrefix)
    const rm = createRedisReadModel(bed.r.redis, v1)
    const common = {
      watcher,
      controlIntervalMs: 50,
      rebuildBatchSize: 50,
    }
    const first = bed.runner({ ...common, projections: [v1] })
    await appendSome(store, 500)
    await first.start()
    await waitUntilApplied(bed.db.pool, first, [v1])
    expect(await rm.hget('acc-0', 'total')).toBe('100')
    expect(await rm.generation()).toBe(1)
    await first.stop()

    const stopAppending = repeatUntilStopped(async () => {
      await appendSome(store, 5)
      await new Promise((resolve) => setTimeout(resolve, 2))
    })
    const misses: string[] = []
    let reads = 0
    const stopReading = repeatUntilStopped(async () => {
      const v = await rm.hget('acc-3', 'total')
      reads++
      if (v === null) misses.push(`read ${reads}`)
    })
    const v2 = counter(2, 10, bed.r.keyPrefix)
    const second = bed.runner({ ...common, projections: [v2] })
    await second.start()
    try {
      await waitFor('generation 2 live', async () => (await rm.generation()) === 2)
      await stopAppending()
      await waitUntilApplied(bed.db.pool, second, [v2])
      await stopReading()
      expect(misses).toEqual([])
      expect(reads).toBeGreaterThan(10)
      const { rows } = await bed.db.pool.query(`SELECT count(*)::int AS n FROM annals.events WHERE stream_id = 'acc-3'`)
      const count = rows[0].n as number
      expect(await rm.hget('acc-3', 'total')).toBe(String(count * 10))
      // The old generation is gone.
      expect(await bed.r.redis.keys(`${bed.r.keyPrefix}{totals}:g1:*`)).toEqual([])
      // A rebuild on request (same version) gives the same result in generation 3.
      await createProjectionAdmin({ pool: bed.db.pool }).requestRebuild('totals')
      await waitFor('generation 3 live', async () => (await rm.generation()) === 3)
      await waitUntilApplied(bed.db.pool, second, [v2])
      expect(await rm.hget('acc-3', 'total')).toBe(String(count * 10))
    } finally {
      await Promise.all([stopAppending(), stopReading()])
      await second.stop()
      await watcher.close()
    }
  })

  it('rebuilds from zero when Redis lost the data (no checkpoint means start over, not resume from the head)', async () => {
    const store = bed.store
    const keyPrefix = `${bed.r.keyPrefix}lost:`
    const projection = counter(1, 1, keyPrefix)
    const rm = createRedisReadModel(bed.r.redis, projection)
    const runner = bed.runner({ projections: [projection] })
    await appendSome(store, 50)
    await runner.start()
    try {
      await waitUntilApplied(bed.db.pool, runner, [projection])
      expect(await rm.hget('acc-1', 'total')).toBe('10')
      // What a FLUSHALL would do to this projection (we must not flush the shared server).
      const keys = await bed.r.redis.keys(`${keyPrefix}*`)
      await bed.r.redis.del(...keys)
      await appendSome(store, 5)
      await waitFor('rebuilt', async () => (await rm.hget('acc-1', 'total')) === '11')
      expect(await rm.hget('acc-4', 'total')).toBe('11')
    } finally {
      await runner.stop()
    }
  })

  it('switches a Postgres read model with a view swap while readers query it', async () => {
    const store = bed.store
    const table = (version: number, factor: number) => postgresTotals(bed.db.pool, 'pg-totals', version, factor)
    const common = {
      controlIntervalMs: 50,
      rebuildBatchSize: 50,
    }
    await appendSome(store, 300)
    const v1 = table(1, 1)
    const first = bed.runner({ ...common, projections: [v1] })
    await first.start()
    await waitUntilApplied(bed.db.pool, first, [v1])
    await first.stop()
    const readerPool = new pg.Pool({ connectionString: bed.db.url, max: 2 })
    readerPool.on('error', () => undefined)
    const problems: string[] = []
    let reads = 0
    const stopReading = repeatUntilStopped(async () => {
      try {
        const { rows } = await readerPool.query(`SELECT total FROM rm.totals WHERE id = 'acc-3'`)
        if (rows.length !== 1) problems.push('missing row')
      } catch (error) {
        problems.push((error as Error).message)
      }
      reads++
    })
    const stopAppending = repeatUntilStopped(() => appendSome(store, 5))
    const v2 = table(2, 10)
    const second = bed.runner({ ...common, projections: [v2] })
    await second.start()
    try {
      await waitFor('generation 2 live', async () => {
        const { rows } = await bed.db.pool.query(
          `SELECT live_generation FROM annals.projections WHERE name = 'pg-totals'`,
        )
        return rows[0]?.live_generation === 2
      })
      await stopAppending()
      await waitUntilApplied(bed.db.pool, second, [v2])
      await stopReading()
      expect(problems).toEqual([])
      expect(reads).toBeGreaterThan(10)
      const { rows } = await bed.db.pool.query(
        `SELECT (SELECT count(*) FROM annals.events WHERE stream_id = 'acc-3')::int * 10 AS expected,
                (SELECT total FROM rm.totals WHERE id = 'acc-3')::int AS actual`,
      )
      expect(rows[0].actual).toBe(rows[0].expected)
      const old = await bed.db.pool.query(`SELECT to_regclass('rm.totals_g1') AS t`)
      expect(old.rows[0].t).toBeNull()
    } finally {
      await Promise.all([stopAppending(), stopReading()])
      await second.stop()
      await readerPool.end()
    }
  })
})
