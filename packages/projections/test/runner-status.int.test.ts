import { REDIS_URL, waitFor } from '@annals/test-support'
import { Redis } from 'ioredis'
import pg from 'pg'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createProjectionAdmin } from '../src/admin.js'
import { defineProjection } from '../src/projection.js'
import { createRedisReadModel, createRedisSink } from '../src/sinks/redis-sink.js'
import { type ProjectionsTestBed, useProjectionsTestBed, waitUntilApplied } from './helpers.js'
import { pgStore } from './store.js'

// Counts the Pinged events of each stream in Redis.
const pingCounter = (bed: ProjectionsTestBed, name: string, redis: Redis = bed.r.redis) =>
  defineProjection({
    name,
    version: 1,
    handles: ['Pinged'],
    sink: createRedisSink({ redis, keyPrefix: bed.r.keyPrefix }),
    handlers: { Pinged: (e, w) => w.incrby(e.streamId, 1) },
  })

/** A pino logger whose entries land in `entries`. */
function capturingLogger() {
  const entries: Record<string, unknown>[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void entries.push(JSON.parse(line)) })
  return { logger, entries }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('what a runner reports about itself (real Postgres store and Redis)', () => {
  const bed = useProjectionsTestBed()

  it('shows a cleanly stopped projection as stopped, with the checkpoint it reached', async () => {
    const projection = pingCounter(bed, 'stops')
    for (let i = 0; i < 10; i++) await bed.store.appendToStream(`s-${i % 2}`, [{ type: 'Pinged', data: {} }])
    // No control tick after the first one: only the stop can publish where the projection got to.
    const runner = bed.runner({ projections: [projection], controlIntervalMs: 60_000 })
    await runner.start()
    await waitUntilApplied(bed.db.pool, runner, [projection])
    const reached = runner.status()[0]?.checkpoint
    await runner.stop()
    const [status] = await createProjectionAdmin({ pool: bed.db.pool }).status([projection])
    expect(reached).not.toBeNull()
    expect([status?.state, status?.owner, status?.checkpoint]).toEqual(['stopped', null, reached])
    expect(status?.eventsProcessed).toBe(10)
    expect(runner.status()[0]?.state).toBe('stopped')
  })

  it('reports no lag once waitUntilIdle resolved, however long ago the last measurement was', async () => {
    const projection = pingCounter(bed, 'idle-lag')
    for (let i = 0; i < 20; i++) await bed.store.appendToStream('s', [{ type: 'Pinged', data: {} }])
    // The one control tick (at take-over) measures 20 events of lag; none follows for a minute.
    const runner = bed.runner({ projections: [projection], controlIntervalMs: 60_000 })
    await runner.start()
    try {
      await runner.waitUntilIdle()
      const [status] = runner.status()
      // On the shared test server another file's open transaction may hold the fence for a moment:
      // then the only lag left is what it holds back (never the 20 measured at take-over).
      if (status?.state === 'held') expect(status.lagEvents).toBe(status.fence?.heldEvents)
      else expect([status?.state, status?.lagEvents, status?.lagSeconds]).toEqual(['live', 0, 0])
    } finally {
      await runner.stop()
    }
  })

  it("logs a dead letter with its handler's error and code, and shows it as the last error", async () => {
    const { logger, entries } = capturingLogger()
    const projection = defineProjection({
      name: 'poisoned',
      version: 1,
      handles: ['Pinged'],
      sink: createRedisSink({ redis: bed.r.redis, keyPrefix: bed.r.keyPrefix }),
      handlers: {
        Pinged(e, w) {
          if (e.streamId === 'bad') throw Object.assign(new Error('no pings on bad'), { code: 'TEST_NO_PINGS' })
          w.incrby(e.streamId, 1)
        },
      },
    })
    const runner = bed.runner({
      projections: [projection],
      logger,
      retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 2 },
    })
    await runner.start()
    try {
      await bed.store.appendToStream('bad', [{ type: 'Pinged', data: {} }])
      await bed.store.appendToStream('good', [{ type: 'Pinged', data: {} }])
      await waitUntilApplied(bed.db.pool, runner, [projection])
      const parked = entries.find((e) => String(e.msg).startsWith('event parked as a dead letter'))
      expect(parked).toMatchObject({ stream: 'bad', error: 'no pings on bad', code: 'TEST_NO_PINGS', attempts: 2 })
      expect(parked?.msg).toContain('no pings on bad')
      // The step after the parking succeeded: the error stays shown.
      expect(runner.status()[0]?.lastError).toBe('no pings on bad')
      await waitFor('published last error', async () => {
        const [s] = await createProjectionAdmin({ pool: bed.db.pool }).status()
        return s?.lastError === 'no pings on bad'
      })
    } finally {
      await runner.stop()
    }
  })

  it('raises no missed wake-up when a busy process handles the notification after the poll timer', async () => {
    const watcher = await bed.watcher()
    const projection = pingCounter(bed, 'busy')
    // Appends from a pool of one client, its append statement prepared: an append is sent at once.
    const appenderPool = new pg.Pool({ connectionString: bed.db.url, max: 1 })
    const appender = pgStore.createPostgresEventStore({ pool: appenderPool, schema: 'annals' })
    await appender.appendToStream('warm-up', [{ type: 'Warm', data: {} }])
    const runner = bed.runner({ watcher, projections: [projection], pollIntervalMs: 100 })
    const rm = createRedisReadModel(bed.r.redis, projection)
    await runner.start()
    try {
      await runner.waitUntilIdle()
      for (let n = 1; n <= 4; n++) {
        // Let the reader settle into plain polls (not the quick looks after a wake-up).
        await sleep(300)
        const appended = appender.appendToStream('busy', [{ type: 'Pinged', data: {} }])
        for (let k = 0; k < 3; k++) await new Promise((resolve) => setImmediate(resolve))
        // The process is busy past the poll interval: when it is free, the timer runs before the
        // notification that arrived meanwhile is read from the socket.
        const until = Date.now() + 250
        while (Date.now() < until) {
          // busy
        }
        await appended
        await waitFor(`ping ${n}`, async () => (await rm.get('busy')) === String(n))
      }
      const metrics = await runner.metrics.metrics()
      expect(metrics).not.toMatch(/annals_projection_missed_wakeups_total\{projection="busy"\} [1-9]/)
    } finally {
      await runner.stop()
      await watcher.close()
      await appenderPool.end()
    }
  })

  it('counts a loss found at takeover: the sink was flushed while no worker ran, and the next owner rebuilds from zero', async () => {
    const redis = new Redis(REDIS_URL, { db: 8 + Math.floor(Math.random() * 8), maxRetriesPerRequest: 2 })
    const projection = pingCounter(bed, 'flushed-between', redis)
    const rm = createRedisReadModel(redis, projection)
    const lost = (runner: { metrics: { getSingleMetric(name: string): unknown } }) =>
      (
        runner.metrics.getSingleMetric('annals_projection_checkpoint_lost_total') as
          | { get(): Promise<{ values: { value: number; labels: object }[] }> }
          | undefined
      )?.get()
    for (let i = 0; i < 6; i++) await bed.store.appendToStream(`b-${i % 2}`, [{ type: 'Pinged', data: {} }])
    const first = bed.runner({ projections: [projection] })
    await first.start()
    try {
      await waitUntilApplied(bed.db.pool, first, [projection])
    } finally {
      await first.stop()
    }
    // A first run finds no checkpoint either, and that is no loss.
    expect((await lost(first))?.values.filter((v) => v.value > 0)).toEqual([])
    const { rows } = await bed.db.pool.query(`SELECT status FROM annals.projections WHERE name = 'flushed-between'`)
    expect(rows[0]?.status.checkpoint).not.toBeNull()
    await redis.flushdb()
    const { logger, entries } = capturingLogger()
    const second = bed.runner({ projections: [projection], logger })
    await second.start()
    try {
      await waitUntilApplied(bed.db.pool, second, [projection])
      expect(await rm.get('b-1')).toBe('3')
      expect(await rm.get('b-0')).toBe('3')
      expect((await lost(second))?.values).toEqual([{ labels: { projection: 'flushed-between' }, value: 1 }])
      expect(entries).toContainEqual(
        expect.objectContaining({
          level: 50,
          msg: expect.stringContaining('checkpoint missing in the sink at takeover'),
        }),
      )
    } finally {
      await second.stop()
      await redis.flushdb()
      await redis.quit()
    }
  })

  it('notices on its control tick that Redis lost the data while idle, rebuilds without an append, and counts the loss', async () => {
    // FLUSHDB for real, on a logical database of its own: the shared server's other data stays.
    const redis = new Redis(REDIS_URL, { db: 8 + Math.floor(Math.random() * 8), maxRetriesPerRequest: 2 })
    const { logger, entries } = capturingLogger()
    const projection = pingCounter(bed, 'flushed', redis)
    for (let i = 0; i < 6; i++) await bed.store.appendToStream(`f-${i % 2}`, [{ type: 'Pinged', data: {} }])
    const runner = bed.runner({ projections: [projection], logger, controlIntervalMs: 100 })
    const rm = createRedisReadModel(redis, projection)
    await runner.start()
    try {
      await waitUntilApplied(bed.db.pool, runner, [projection])
      expect(await rm.get('f-1')).toBe('3')
      const lost = () => runner.metrics.getSingleMetric('annals_projection_checkpoint_lost_total')?.get()
      expect((await lost())?.values.filter((v) => v.value > 0)).toEqual([])
      await redis.flushdb()
      expect(await rm.get('f-1')).toBeNull()
      await waitFor('rebuilt from zero', async () => (await rm.get('f-1')) === '3', { timeoutMs: 5000 })
      expect(await rm.get('f-0')).toBe('3')
      expect(entries).toContainEqual(
        expect.objectContaining({ level: 50, msg: expect.stringContaining('checkpoint missing in the sink') }),
      )
      expect((await lost())?.values).toEqual([{ labels: { projection: 'flushed' }, value: 1 }])
    } finally {
      await runner.stop()
      await redis.flushdb()
      await redis.quit()
    }
  })
})
