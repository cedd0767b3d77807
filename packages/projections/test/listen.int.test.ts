import { waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { defineProjection } from '../src/projection.js'
import { createRedisReadModel, createRedisSink } from '../src/sinks/redis-sink.js'
import { type ProjectionsTestBed, useProjectionsTestBed } from './helpers.js'

// Counts the Pinged events of each stream in Redis.
const pingCounter = (bed: ProjectionsTestBed, name: string) =>
  defineProjection({
    name,
    version: 1,
    handles: ['Pinged'],
    sink: createRedisSink({ redis: bed.r.redis, keyPrefix: bed.r.keyPrefix }),
    handlers: { Pinged: (e, w) => w.incrby(e.streamId, 1) },
  })

describe('wake-ups after a dead LISTEN connection (real Postgres store)', () => {
  const bed = useProjectionsTestBed('all')

  const listeners = async () =>
    (
      await bed.db.pool.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'listen%' AND pid <> pg_backend_pid()`,
        [bed.db.name],
      )
    ).rows.map((row) => row.pid)

  it('processes appends within the polling interval after pg_terminate_backend, then re-listens', async () => {
    const pollIntervalMs = 1500
    const store = bed.store
    const watcher = await bed.watcher()
    const projection = pingCounter(bed, 'listen-counter')
    const runner = bed.runner({
      watcher,
      projections: [projection],
      pollIntervalMs,
    })
    const rm = createRedisReadModel(bed.r.redis, projection)
    const appendAndTime = async (n: number) => {
      const t0 = Date.now()
      await store.appendToStream('ping', [{ type: 'Pinged', data: {} }])
      await waitFor(`ping ${n}`, async () => (await rm.get('ping')) === String(n), { timeoutMs: 10_000, everyMs: 5 })
      return Date.now() - t0
    }
    await runner.start()
    try {
      await runner.waitUntilIdle()
      const [listener] = await waitFor('a LISTEN backend', async () => {
        const pids = await listeners()
        return pids.length === 1 ? pids : null
      })
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
      // Warm: the wake-up makes it visible well before a poll would. (Median of three: the log's fence
      // is server-wide, so a transaction held open elsewhere can delay any single append.)
      expect(median([await appendAndTime(1), await appendAndTime(2), await appendAndTime(3)])).toBeLessThan(
        pollIntervalMs / 2,
      )
      await bed.db.pool.query('SELECT pg_terminate_backend($1)', [listener])
      // Whether or not the wake-up path is back yet, polling bounds the delay.
      expect(await appendAndTime(4)).toBeLessThan(pollIntervalMs + 1000)
      const relistened = await waitFor('a new LISTEN backend', async () => {
        const pids = await listeners()
        return pids.length === 1 && pids[0] !== listener ? pids : null
      })
      expect(relistened[0]).not.toBe(listener)
      // Back on wake-ups: three appends in a row, each far quicker than the poll interval.
      const delays = [await appendAndTime(5), await appendAndTime(6), await appendAndTime(7)]
      expect(median(delays)).toBeLessThan(pollIntervalMs / 2)
    } finally {
      await runner.stop()
      await watcher.close()
    }
  })
})

describe('polling without any wake-up source (real Postgres store)', () => {
  const bed = useProjectionsTestBed()

  it('sees appends within the polling interval', async () => {
    const store = bed.store
    const projection = pingCounter(bed, 'poll-counter')
    const runner = bed.runner({ projections: [projection], pollIntervalMs: 400 })
    const rm = createRedisReadModel(bed.r.redis, projection)
    await runner.start()
    try {
      await runner.waitUntilIdle()
      for (let n = 1; n <= 3; n++) {
        const t0 = Date.now()
        await store.appendToStream('ping', [{ type: 'Pinged', data: {} }])
        await waitFor('ping', async () => (await rm.get('ping')) === String(n), { timeoutMs: 10_000, everyMs: 5 })
        expect(Date.now() - t0).toBeLessThan(400 + 600)
      }
    } finally {
      await runner.stop()
    }
  })
})
