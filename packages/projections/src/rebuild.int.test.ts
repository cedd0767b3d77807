import type { Event, EventStore } from '@annals/core'
import { createInMemoryEventStore, createInMemoryLogWatcher } from '@annals/core/testing'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, createTestRedis, waitFor } from '../test/helpers.js'
import { createProjectionAdmin } from './admin.js'
import { migrateProjections } from './migrate-projections.js'
import { defineProjection } from './projection.js'
import { createProjectionRunner } from './runner.js'
import { createRedisReadModel, createRedisSink, type RedisWriter } from './sinks/redis-sink.js'

type Deposited = Event<'Deposited', { amount: number }>
const silent = pino({ level: 'silent' })

describe('zero-downtime rebuild (in-memory log)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  let r: ReturnType<typeof createTestRedis>
  beforeAll(async () => {
    db = await createTestDatabase()
    r = createTestRedis()
    await migrateProjections({ pool: db.pool })
  })
  afterAll(async () => {
    await r?.cleanup()
    await db?.drop()
  })

  const counter = (version: number, factor: number, keyPrefix: string) =>
    defineProjection({
      name: 'totals',
      version,
      handles: ['Deposited'] as const,
      sink: createRedisSink({ redis: r.redis, keyPrefix }),
      handlers: {
        Deposited: (e, w: RedisWriter) => w.hincrby(e.streamId, 'total', (e.data as Deposited['data']).amount * factor),
      },
    })

  async function appendSome(store: EventStore, n: number) {
    for (let i = 0; i < n; i++) await store.appendToStream(`acc-${i % 5}`, [{ type: 'Deposited', data: { amount: 1 } }])
  }

  it('builds the new version beside the live one while appends continue and readers never miss', async () => {
    const store = createInMemoryEventStore()
    const watcher = createInMemoryLogWatcher(store)
    const v1 = counter(1, 1, r.keyPrefix)
    const rm = createRedisReadModel(r.redis, v1)
    const common = {
      pool: db.pool,
      store,
      watcher,
      logger: silent,
      pollIntervalMs: 50,
      controlIntervalMs: 50,
      rebuildBatchSize: 50,
    }
    const first = createProjectionRunner({ ...common, projections: [v1] })
    await appendSome(store, 500)
    await first.start()
    await first.waitUntilIdle()
    expect(await rm.hget('acc-0', 'total')).toBe('100')
    expect(await rm.generation()).toBe(1)
    await first.stop()

    let appending = true
    const appender = (async () => {
      while (appending) {
        await appendSome(store, 5)
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
    })()
    const misses: string[] = []
    let reads = 0
    let reading = true
    const reader = (async () => {
      while (reading) {
        const v = await rm.hget('acc-3', 'total')
        reads++
        if (v === null) misses.push(`read ${reads}`)
      }
    })()
    const v2 = counter(2, 10, r.keyPrefix)
    const second = createProjectionRunner({ ...common, projections: [v2] })
    await second.start()
    try {
      await waitFor('generation 2 live', async () => (await rm.generation()) === 2)
      appending = false
      await appender
      await second.waitUntilIdle()
      reading = false
      await reader
      expect(misses).toEqual([])
      expect(reads).toBeGreaterThan(10)
      const count = (await store.readAll({ limit: 100_000 })).events.filter((e) => e.streamId === 'acc-3').length
      expect(await rm.hget('acc-3', 'total')).toBe(String(count * 10))
      // The old generation is gone.
      expect(await r.redis.keys(`${r.keyPrefix}{totals}:g1:*`)).toEqual([])
      // A rebuild on request (same version) gives the same result in generation 3.
      await createProjectionAdmin({ pool: db.pool }).requestRebuild('totals')
      await waitFor('generation 3 live', async () => (await rm.generation()) === 3)
      await second.waitUntilIdle()
      expect(await rm.hget('acc-3', 'total')).toBe(String(count * 10))
    } finally {
      appending = false
      reading = false
      await second.stop()
    }
  })

  it('rebuilds from zero when Redis lost the data (no checkpoint means start over, not resume from the head)', async () => {
    const store = createInMemoryEventStore()
    const keyPrefix = `${r.keyPrefix}lost:`
    const projection = counter(1, 1, keyPrefix)
    const rm = createRedisReadModel(r.redis, projection)
    const runner = createProjectionRunner({
      pool: db.pool,
      store,
      projections: [projection],
      logger: silent,
      pollIntervalMs: 50,
    })
    await appendSome(store, 50)
    await runner.start()
    try {
      await runner.waitUntilIdle()
      expect(await rm.hget('acc-1', 'total')).toBe('10')
      // What a FLUSHALL would do to this projection (we must not flush the shared server).
      const keys = await r.redis.keys(`${keyPrefix}*`)
      await r.redis.del(...keys)
      await appendSome(store, 5)
      await waitFor('rebuilt', async () => (await rm.hget('acc-1', 'total')) === '11')
      expect(await rm.hget('acc-4', 'total')).toBe('11')
    } finally {
      await runner.stop()
    }
  })
})
