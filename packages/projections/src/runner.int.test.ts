import type { Event } from '@annals/core'
import { waitFor } from '@annals/test-support'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { postgresTotals, useProjectionsTestBed, waitUntilApplied } from '../test/helpers.js'
import { createProjectionAdmin } from './admin.js'
import { createPostgresPendingCounter } from './postgres-pending-counter.js'
import { defineProjection } from './projection.js'
import { createPostgresSink } from './sinks/postgres-sink.js'
import { createRedisReadModel, createRedisSink } from './sinks/redis-sink.js'

type Deposited = Event<'Deposited', { amount: number }>
type Noise = Event<'Noise', { n: number }>

const silent = pino({ level: 'silent' })

describe('projection runner (real Postgres store and Redis)', () => {
  const bed = useProjectionsTestBed()

  it('applies handled events once into Redis and Postgres, skipping other types', async () => {
    const store = bed.store
    const watcher = await bed.watcher()
    const redisCounter = defineProjection({
      name: 'counter-redis',
      version: 1,
      handles: ['Deposited'] as const,
      sink: createRedisSink({ redis: bed.r.redis, keyPrefix: bed.r.keyPrefix }),
      handlers: {
        Deposited: (e, w) => w.hincrby(e.streamId, 'total', (e.data as Deposited['data']).amount),
      },
    })
    const pgCounter = postgresTotals(bed.db.pool, 'counter-pg')
    const runner = bed.runner({
      watcher,
      projections: [redisCounter, pgCounter],
      countPending: createPostgresPendingCounter({ pool: bed.db.pool }),
      pollIntervalMs: 200,
    })
    await runner.start()
    try {
      for (let i = 0; i < 30; i++) {
        await store.appendToStream<Deposited | Noise>(`acc-${i % 3}`, [
          { type: 'Deposited', data: { amount: 1 } },
          { type: 'Noise', data: { n: i } },
        ])
      }
      await waitUntilApplied(bed.db.pool, runner, [redisCounter, pgCounter])
      const rm = createRedisReadModel(bed.r.redis, redisCounter)
      expect(await rm.hgetall('acc-0')).toEqual({ total: '10' })
      expect(await rm.hgetall('acc-2')).toEqual({ total: '10' })
      const { rows } = await bed.db.pool.query('SELECT id, total::int FROM rm.totals ORDER BY id')
      expect(rows).toEqual([
        { id: 'acc-0', total: 10 },
        { id: 'acc-1', total: 10 },
        { id: 'acc-2', total: 10 },
      ])
      const pending = createPostgresPendingCounter({ pool: bed.db.pool })
      expect(await pending({ transactionId: 0n, position: 0n }, ['Deposited'])).toBe(30)
      expect(await pending({ transactionId: 0n, position: 0n }, ['Deposited', 'Noise'])).toBe(60)
      const text = await runner.metrics.metrics()
      expect(text).toContain('annals_projection_events_processed_total{projection="counter-redis"} 30')
      expect(text).toContain('annals_projection_state{projection="counter-pg",state="live"} 1')
      expect(text).toMatch(/annals_projection_checkpoint_position\{projection="counter-redis"\} \d+/)
      const status = await waitFor('published status', async () => {
        const all = await createProjectionAdmin({ pool: bed.db.pool }).status()
        return all.every((s) => s.state === 'live' && s.checkpoint !== null) ? all : null
      })
      expect(status.map((s) => [s.name, s.liveGeneration, s.lagEvents, s.deadLetters])).toEqual([
        ['counter-pg', 1, 0, 0],
        ['counter-redis', 1, 0, 0],
      ])
      expect(status.map((s) => [s.name, s.owner === runner.workerId])).toEqual([
        ['counter-pg', true],
        ['counter-redis', true],
      ])
    } finally {
      await runner.stop()
      await watcher.close()
    }
  })

  it('parks a poison event, holds its stream behind it, lets other streams flow, and converges on replay', async () => {
    const store = bed.store
    let fixed = false
    const projection = defineProjection({
      name: 'poison',
      version: 1,
      handles: ['Deposited'] as const,
      sink: createRedisSink({ redis: bed.r.redis, keyPrefix: bed.r.keyPrefix }),
      handlers: {
        Deposited(e, w) {
          if ((e.data as Deposited['data']).amount < 0 && !fixed) throw new Error('negative amount')
          w.hincrby(e.streamId, 'total', Math.abs((e.data as Deposited['data']).amount))
          w.rpush(`${e.streamId}:log`, String(e.streamVersion))
        },
      },
    })
    const runner = bed.runner({
      projections: [projection],
      controlIntervalMs: 100,
      retry: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
    })
    const admin = createProjectionAdmin({ pool: bed.db.pool })
    const rm = createRedisReadModel(bed.r.redis, projection)
    await runner.start()
    try {
      await store.appendToStream('bad', [{ type: 'Deposited', data: { amount: 1 } }])
      await store.appendToStream('bad', [{ type: 'Deposited', data: { amount: -5 } }])
      await store.appendToStream('good', [{ type: 'Deposited', data: { amount: 2 } }])
      await store.appendToStream('bad', [{ type: 'Deposited', data: { amount: 7 } }])
      await store.appendToStream('good', [{ type: 'Deposited', data: { amount: 3 } }])
      await waitFor('good stream', async () => (await rm.hget('good', 'total')) === '5')
      expect(await rm.hget('bad', 'total')).toBe('1')
      const letters = await admin.listDeadLetters({ projection: 'poison' })
      expect(letters.map((l) => [l.streamVersion, l.reason, l.attempts])).toEqual([
        [2n, 'failed', 3],
        [3n, 'blocked', 0],
      ])
      expect(letters[0]?.error).toBe('negative amount')
      expect(letters[0]?.stack).toContain('negative amount')
      // Later events of the blocked stream keep waiting.
      await store.appendToStream('bad', [{ type: 'Deposited', data: { amount: 10 } }])
      await waitFor('third letter', async () => (await admin.listDeadLetters({ projection: 'poison' })).length === 3)
      await waitFor('dead-letter metric', async () =>
        (await runner.metrics.metrics()).includes('annals_projection_dead_letters{projection="poison"} 3'),
      )
      fixed = true
      expect(await admin.retryDeadLetters({ projection: 'poison' })).toBe(3)
      await waitFor('replay', async () => (await admin.listDeadLetters({ projection: 'poison' })).length === 0)
      expect(await rm.hget('bad', 'total')).toBe('23')
      expect(await rm.lrange('bad:log', 0, -1)).toEqual(['1', '2', '3', '4'])
      // After the replay the stream flows again.
      await store.appendToStream('bad', [{ type: 'Deposited', data: { amount: 100 } }])
      await waitFor('unblocked', async () => (await rm.hget('bad', 'total')) === '123')
      // The replayed model equals a clean rebuild from zero.
      const replayed = [await rm.hgetall('bad'), await rm.lrange('bad:log', 0, -1), await rm.hgetall('good')]
      await admin.requestRebuild('poison')
      await waitFor('clean rebuild live', async () => (await rm.generation()) === 2)
      expect([await rm.hgetall('bad'), await rm.lrange('bad:log', 0, -1), await rm.hgetall('good')]).toEqual(replayed)
    } finally {
      await runner.stop()
    }
  })

  it('applies whole batches with applyBatch, and isolates a poison event one at a time', async () => {
    const store = bed.store
    const projection = defineProjection({
      name: 'batched',
      version: 1,
      handles: ['Deposited'] as const,
      sink: createPostgresSink({
        pool: bed.db.pool,
        schema: 'rm',
        tables: { sums: (t) => `CREATE TABLE ${t} (id text PRIMARY KEY, total bigint NOT NULL, n int NOT NULL)` },
      }),
      async applyBatch(events, { client, table }) {
        if (events.some((e) => (e.data as Deposited['data']).amount < 0)) throw new Error('negative amount')
        const t = table('sums')
        await client.query(
          `INSERT INTO ${t} (id, total, n) SELECT id, sum(amount), count(*) FROM unnest($1::text[], $2::bigint[]) AS x(id, amount) GROUP BY id
           ON CONFLICT (id) DO UPDATE SET total = ${t}.total + excluded.total, n = ${t}.n + excluded.n`,
          [events.map((e) => e.streamId), events.map((e) => (e.data as Deposited['data']).amount)],
        )
      },
    })
    for (let i = 0; i < 60; i++) {
      await store.appendToStream(`b-${i % 3}`, [{ type: 'Deposited', data: { amount: i === 31 ? -1 : 1 } }])
    }
    const runner = bed.runner({
      projections: [projection],
      logger: process.env.DEBUG_TEST ? pino({ level: 'debug' }) : silent,
      batchSize: 25,
      retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 2 },
    })
    await runner.start()
    try {
      await waitUntilApplied(bed.db.pool, runner, [projection])
      const { rows } = await bed.db.pool.query('SELECT id, total::int, n FROM rm.sums ORDER BY id')
      // Event 31 is the 11th of b-1: it and the 9 after it in b-1 are parked; the other streams are complete.
      expect(rows).toEqual([
        { id: 'b-0', total: 20, n: 20 },
        { id: 'b-1', total: 10, n: 10 },
        { id: 'b-2', total: 20, n: 20 },
      ])
      const letters = await createProjectionAdmin({ pool: bed.db.pool }).listDeadLetters({ projection: 'batched' })
      expect(letters.map((l) => [l.streamVersion, l.reason])).toEqual([
        [11n, 'failed'],
        ...Array.from({ length: 9 }, (_, k) => [BigInt(12 + k), 'blocked']),
      ])
    } finally {
      await runner.stop()
    }
  })

  it('rejects a Redis batch with a type error before writing anything, and parks the culprit', async () => {
    const store = bed.store
    const projection = defineProjection({
      name: 'typed-keys',
      version: 1,
      handles: ['Deposited'] as const,
      sink: createRedisSink({ redis: bed.r.redis, keyPrefix: bed.r.keyPrefix }),
      handlers: {
        Deposited(e, w) {
          const amount = (e.data as Deposited['data']).amount
          w.incrby('events', 1)
          // A bug: amount 0 writes a string where the others keep a hash (later increments then fail).
          if (amount === 0) w.set(e.streamId, 'oops')
          else w.hincrby(e.streamId, 'total', amount)
        },
      },
    })
    await store.appendToStream('t-1', [{ type: 'Deposited', data: { amount: 0 } }])
    await store.appendToStream('t-2', [{ type: 'Deposited', data: { amount: 1 } }])
    await store.appendToStream('t-1', [{ type: 'Deposited', data: { amount: 1 } }])
    await store.appendToStream('t-2', [{ type: 'Deposited', data: { amount: 5 } }])
    const runner = bed.runner({
      projections: [projection],
      retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 2 },
    })
    await runner.start()
    try {
      await waitUntilApplied(bed.db.pool, runner, [projection])
      const rm = createRedisReadModel(bed.r.redis, projection)
      // Every event except the culprit applied exactly once (no partial batch was ever written).
      expect(await rm.get('events')).toBe('3')
      expect(await rm.get('t-1')).toBe('oops')
      expect(await rm.hgetall('t-2')).toEqual({ total: '6' })
      const letters = await createProjectionAdmin({ pool: bed.db.pool }).listDeadLetters({ projection: 'typed-keys' })
      expect(letters.map((l) => [l.streamId, l.streamVersion, l.reason])).toEqual([['t-1', 2n, 'failed']])
      expect(letters[0]?.error).toContain('WRONGTYPE')
    } finally {
      await runner.stop()
    }
  })
})
