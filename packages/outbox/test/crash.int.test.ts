import { fileURLToPath } from 'node:url'
import type { Event } from '@annals/core'
import { createPostgresEventStore, migrate } from '@annals/store-postgres'
import { type SpawnedProcess, spawnTs, waitFor } from '@annals/test-support'
import type { PoolClient } from 'pg'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createIdempotentHandler, type IdempotentOutcome } from '../src/idempotent-handler.js'
import { migrateOutbox } from '../src/migrate-outbox.js'
import { getOutboxStatus } from '../src/outbox-admin.js'
import { publicationMap } from '../src/publication-map.js'
import { type ConsumedMessage, createRedisStreamsConsumer } from '../src/redis-streams-consumer.js'
import { streamKey } from '../src/redis-streams-publisher.js'
import { useTestbed } from './helpers.js'

const logger = pino({ level: 'silent' })
const bed = useTestbed('crash')
type Worker = SpawnedProcess
const spawnWorker = (script: string, env: Record<string, string>): Worker =>
  spawnTs(fileURLToPath(new URL(`./workers/${script}`, import.meta.url)), { env })
const killWorker = (worker: Worker) => worker.kill()

type OrderStepped = Event<'OrderStepped', { seq: number }>

const publish = publicationMap<OrderStepped>({
  OrderStepped: { topic: 'orders', toMessage: (e) => ({ payload: { aggregate: e.streamId, seq: e.data.seq } }) },
})

/** Event store and outbox tables in a fresh schema, plus the consumer's own tables. */
async function setup(schema: string) {
  await migrate({ pool: bed.db.pool, schema })
  await migrateOutbox({ pool: bed.db.pool, schema })
  await bed.db.pool.query(`
    CREATE TABLE ${schema}.progress (aggregate text PRIMARY KEY, last int NOT NULL);
    CREATE TABLE ${schema}.violations (aggregate text, expected int, got int);
    CREATE TABLE ${schema}.applied (message_id text NOT NULL)`)
  return createPostgresEventStore({ pool: bed.db.pool, schema, outbox: { publish } })
}

function step(seq: number): OrderStepped {
  return { type: 'OrderStepped', data: { seq } }
}

/** Applies each message in the consumer's transaction: checks it is the next of its aggregate. */
async function apply(message: ConsumedMessage, tx: PoolClient, schema: string): Promise<void> {
  const { aggregate, seq } = message.payload as { aggregate: string; seq: number }
  const { rows } = await tx.query<{ last: number }>(
    `INSERT INTO ${schema}.progress (aggregate, last) VALUES ($1, 0)
     ON CONFLICT (aggregate) DO UPDATE SET aggregate = excluded.aggregate RETURNING last`,
    [aggregate],
  )
  const last = rows[0]?.last ?? 0
  if (seq !== last + 1) {
    await tx.query(`INSERT INTO ${schema}.violations (aggregate, expected, got) VALUES ($1, $2, $3)`, [
      aggregate,
      last + 1,
      seq,
    ])
  }
  await tx.query(`UPDATE ${schema}.progress SET last = $2 WHERE aggregate = $1`, [aggregate, seq])
  await tx.query(`INSERT INTO ${schema}.applied (message_id) VALUES ($1)`, [message.messageId])
}

function workerEnv(schema: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: bed.db.connectionString,
    OUTBOX_SCHEMA: schema,
    REDIS_PREFIX: `${bed.keyPrefix}:${schema}`,
    ...extra,
  }
}

describe('relay crashes', () => {
  it('a relay SIGKILLed after the broker acked but before marking: published at most twice, applied once', async () => {
    const schema = 'crash_once'
    const store = await setup(schema)
    const { events } = await store.appendToStream('order-1', [step(1)], { expectedVersion: 'no-stream' })
    const m = { messageId: events[0]?.eventId }
    const key = streamKey(`${bed.keyPrefix}:${schema}`, 'orders')

    const doomed = spawnWorker('relay-worker.ts', workerEnv(schema, { HANG_AFTER_PUBLISH: '1' }))
    await waitFor('the broker ack', () => doomed.lines.some((l) => l.startsWith('ACKED')), 20_000)
    await killWorker(doomed)
    expect(doomed.child.signalCode).toBe('SIGKILL')
    expect(await bed.redis.xlen(key)).toBe(1)
    const { rows } = await bed.db.pool.query(`SELECT status FROM ${schema}.outbox`)
    expect(rows).toEqual([{ status: 'pending' }])

    const survivor = spawnWorker('relay-worker.ts', workerEnv(schema))
    await waitFor(
      'the resend',
      async () => (await getOutboxStatus({ pool: bed.db.pool, schema })).pending === 0,
      20_000,
    )
    await killWorker(survivor)
    expect(await bed.redis.xlen(key)).toBe(2)

    const outcomes: IdempotentOutcome[] = []
    const handle = createIdempotentHandler<ConsumedMessage>({
      pool: bed.db.pool,
      schema,
      consumer: 'billing',
      handle: (msg, tx) => apply(msg, tx, schema),
    })
    const consumer = createRedisStreamsConsumer({
      redis: bed.redis,
      keyPrefix: `${bed.keyPrefix}:${schema}`,
      topic: 'orders',
      group: 'billing',
      consumer: 'billing-1',
      blockMs: 50,
      logger,
      handle: async (msg) => {
        outcomes.push(await handle(msg))
      },
    })
    await consumer.runOnce()
    await consumer.stop()
    expect(outcomes).toEqual(['processed', 'duplicate'])
    const applied = await bed.db.pool.query(`SELECT message_id FROM ${schema}.applied`)
    expect(applied.rows).toEqual([{ message_id: m.messageId }])
    // Both deliveries were acknowledged: nothing left pending in the group.
    const pending = (await bed.redis.call('XPENDING', key, 'billing')) as [number, ...unknown[]]
    expect(pending[0]).toBe(0)
  })

  it('three relays killed at random over 10 aggregates x 100 events: per-aggregate order at the consumer, nothing lost', async () => {
    const schema = 'crash_chaos'
    const store = await setup(schema)
    const aggregates = Array.from({ length: 10 }, (_, i) => `agg-${i}`)
    const env = workerEnv(schema, { BATCH_SIZE: '7', PUBLISH_DELAY_MS: '8' })
    const workers: Worker[] = [0, 1, 2].map(() => spawnWorker('relay-worker.ts', env))

    const handle = createIdempotentHandler<ConsumedMessage>({
      pool: bed.db.pool,
      schema,
      consumer: 'projector',
      handle: (msg, tx) => apply(msg, tx, schema),
    })
    let deliveries = 0
    const consumer = createRedisStreamsConsumer({
      redis: bed.redis,
      keyPrefix: `${bed.keyPrefix}:${schema}`,
      topic: 'orders',
      group: 'projector',
      consumer: 'projector-1',
      blockMs: 100,
      logger,
      handle: async (msg) => {
        deliveries += 1
        await handle(msg)
      },
    })
    consumer.start()

    let producing = true
    let kills = 0
    const chaos = (async () => {
      while (producing || kills < 6) {
        await new Promise((res) => setTimeout(res, 80 + Math.random() * 200))
        const i = Math.floor(Math.random() * workers.length)
        const victim = workers[i]
        if (victim === undefined) continue
        await killWorker(victim)
        kills += 1
        workers[i] = spawnWorker('relay-worker.ts', env)
      }
    })()
    try {
      // Ten writers, one per aggregate, each appending its 100 events in order, one append each.
      await Promise.all(
        aggregates.map(async (aggregate) => {
          for (let seq = 1; seq <= 100; seq++) {
            await store.appendToStream(aggregate, [step(seq)], { expectedVersion: BigInt(seq - 1) })
            if (seq % 10 === 0) await new Promise((res) => setTimeout(res, 20 + Math.random() * 40))
          }
        }),
      )
      producing = false
      await chaos
      await waitFor(
        'the consumer to apply all 1000 messages',
        async () => {
          const { rows } = await bed.db.pool.query<{ n: number }>(
            `SELECT count(DISTINCT message_id)::int AS n FROM ${schema}.applied`,
          )
          return rows[0]?.n === 1000
        },
        60_000,
      )
    } finally {
      producing = false
      kills = Math.max(kills, 6)
      await chaos.catch(() => undefined)
      await consumer.stop()
      await Promise.all(workers.map((w) => killWorker(w)))
    }
    expect(kills).toBeGreaterThanOrEqual(6)
    const violations = await bed.db.pool.query(`SELECT * FROM ${schema}.violations`)
    expect(violations.rows).toEqual([])
    const applied = await bed.db.pool.query<{ n: number; distinct: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT message_id)::int AS distinct FROM ${schema}.applied`,
    )
    expect(applied.rows[0]).toEqual({ n: 1000, distinct: 1000 })
    const progress = await bed.db.pool.query(`SELECT DISTINCT last FROM ${schema}.progress`)
    expect(progress.rows).toEqual([{ last: 100 }])
    expect(deliveries).toBeGreaterThanOrEqual(1000)
    expect(await getOutboxStatus({ pool: bed.db.pool, schema })).toMatchObject({ pending: 0, dead: 0 })
  })
})
