import { randomUUID } from 'node:crypto'
import type { Event, OutboundMessage } from '@annals/core'
import { createPostgresEventStore, migrate } from '@annals/store-postgres'
import { waitFor } from '@annals/test-support'
import type { PoolClient } from 'pg'
import { describe, expect, it } from 'vitest'
import { createIdempotentHandler } from '../src/idempotent-handler.js'
import { migrateOutbox } from '../src/migrate-outbox.js'
import { getOutboxStatus } from '../src/outbox-admin.js'
import { publicationMap } from '../src/publication-map.js'
import {
  type ConsumedMessage,
  deadLetterStreamKey,
  ensureConsumerGroup,
  type RedisStreamsConsumer,
} from '../src/redis-streams-consumer.js'
import { createRedisStreamsPublisher, type StreamMaxLen, streamKey } from '../src/redis-streams-publisher.js'
import { consumerOf, relayTo, useTestbed } from './helpers.js'

const bed = useTestbed('consumer')

/** One message of key `k` on topic `t` per number, payload `{ n }`, published in one batch. */
async function publishNumbered(
  to: Readonly<{ keyPrefix: string; maxLen?: StreamMaxLen }>,
  numbers: readonly number[],
  type = 'X',
): Promise<OutboundMessage[]> {
  const messages = numbers.map((n) => ({
    messageId: randomUUID(),
    topic: 't',
    partitionKey: 'k',
    type,
    payload: { n },
    headers: {},
  }))
  await createRedisStreamsPublisher({ redis: bed.redis, ...to }).publish(messages)
  return messages
}

type OrderPlaced = Event<
  'OrderPlaced',
  {
    orderId: string
    customerEmail: string
    items: { sku: string; qty: number }[]
    totalCents: number
    fraudScore: number
  }
>

function orderPlaced(n: number): OrderPlaced {
  return {
    type: 'OrderPlaced',
    data: {
      orderId: `order-${n}`,
      customerEmail: `c${n}@example.com`,
      items: [{ sku: `sku-${n % 3}`, qty: 1 + (n % 2) }],
      totalCents: 1000 + n,
      fraudScore: 0.1,
    },
  }
}

describe('checkout story', () => {
  it('three consumer groups each get every OrderPlaced; one down for a while catches up with nothing lost', async () => {
    const schema = 'checkout'
    const keyPrefix = `${bed.keyPrefix}checkout`
    await migrate({ pool: bed.db.pool, schema })
    await migrateOutbox({ pool: bed.db.pool, schema })
    await bed.db.pool.query(`
      CREATE TABLE ${schema}.emails (order_id text PRIMARY KEY, recipient text NOT NULL);
      CREATE TABLE ${schema}.reservations (order_id text PRIMARY KEY, skus text NOT NULL);
      CREATE TABLE ${schema}.revenue (order_id text PRIMARY KEY, cents int NOT NULL)`)

    // The public shape drops internal fields (fraud score) and gets its own type name.
    const publish = publicationMap<OrderPlaced>({
      OrderPlaced: {
        topic: 'checkout',
        toMessage: (e) => ({
          type: 'checkout.order-placed.v1',
          payload: {
            orderId: e.data.orderId,
            email: e.data.customerEmail,
            items: e.data.items,
            totalCents: e.data.totalCents,
          },
        }),
      },
    })
    const store = createPostgresEventStore({ pool: bed.db.pool, schema, outbox: { publish } })
    /** The checkout: each order is a new stream; a batch of orders is one atomic append. */
    async function placeOrders(from: number, to: number): Promise<void> {
      await store.appendToStreams(
        Array.from({ length: to - from + 1 }, (_, i) => ({
          streamId: `order-${from + i}`,
          events: [{ ...orderPlaced(from + i), metadata: { correlationId: `checkout-${from + i}` } }],
          expectedVersion: 'no-stream' as const,
        })),
      )
    }

    type Placed = { orderId: string; email: string; items: { sku: string }[]; totalCents: number }
    function consumer(group: string, name: string, apply: (p: Placed, tx: PoolClient) => Promise<void>) {
      const handle = createIdempotentHandler<ConsumedMessage>({
        pool: bed.db.pool,
        schema,
        consumer: group,
        handle: async (m, tx) => {
          expect(m.type).toBe('checkout.order-placed.v1')
          const n = (m.payload as Placed).orderId.replace('order-', '')
          expect(m.headers['correlation-id']).toBe(`checkout-${n}`)
          expect(m.headers['annals-stream-id']).toBe(`order-${n}`)
          await apply(m.payload as Placed, tx)
        },
      })
      return consumerOf(bed, {
        keyPrefix,
        topic: 'checkout',
        group,
        consumer: name,
        blockMs: 50,
        claimIdleMs: 300,
        handle,
      })
    }
    const count = async (table: string) =>
      (await bed.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.${table}`)).rows[0]?.n

    const relay = relayTo(bed, keyPrefix, { schema, pollIntervalMs: 20 })
    const email = consumer('email', 'email-1', async (p, tx) => {
      await tx.query(`INSERT INTO ${schema}.emails VALUES ($1, $2)`, [p.orderId, p.email])
    })
    const warehouse = consumer('warehouse', 'warehouse-1', async (p, tx) => {
      await tx.query(`INSERT INTO ${schema}.reservations VALUES ($1, $2)`, [
        p.orderId,
        p.items.map((i) => i.sku).join(),
      ])
    })
    // Analytics exists (its group starts at the beginning of the stream) but its only instance dies
    // after reading the first orders, before acknowledging them.
    await ensureConsumerGroup(bed.redis, { keyPrefix, topic: 'checkout', group: 'analytics' })
    const running: RedisStreamsConsumer[] = [email, warehouse]
    await relay.start()
    for (const c of running) await c.start()
    let analytics: RedisStreamsConsumer | undefined
    try {
      await placeOrders(1, 1)
      await waitFor('the first email', async () => (await count('emails')) === 1, 10_000)
      const stolen = (await bed.redis.call(
        'XREADGROUP',
        'GROUP',
        'analytics',
        'analytics-crashed',
        'COUNT',
        '10',
        'STREAMS',
        streamKey(keyPrefix, 'checkout'),
        '>',
      )) as [string, unknown[]][]
      expect(stolen[0]?.[1]).toHaveLength(1)

      await placeOrders(2, 10)
      await placeOrders(11, 25)
      await waitFor(
        'email and warehouse to proceed',
        async () => (await count('emails')) === 25 && (await count('reservations')) === 25,
        20_000,
      )
      expect(await count('revenue')).toBe(0)

      analytics = consumer('analytics', 'analytics-2', async (p, tx) => {
        await tx.query(`INSERT INTO ${schema}.revenue VALUES ($1, $2)`, [p.orderId, p.totalCents])
      })
      await analytics.start()
      await waitFor('analytics to catch up', async () => (await count('revenue')) === 25, 20_000)
    } finally {
      await relay.stop()
      await Promise.all([...running, ...(analytics ? [analytics] : [])].map((c) => c.stop()))
    }
    const ids = Array.from({ length: 25 }, (_, i) => `order-${i + 1}`).sort()
    for (const table of ['emails', 'reservations', 'revenue']) {
      const { rows } = await bed.db.pool.query<{ order_id: string }>(
        `SELECT order_id FROM ${schema}.${table} ORDER BY 1`,
      )
      expect(rows.map((row) => row.order_id)).toEqual(ids)
    }
    const { rows: revenue } = await bed.db.pool.query(`SELECT sum(cents)::int AS total FROM ${schema}.revenue`)
    expect(revenue[0].total).toBe(25 * 1000 + (25 * 26) / 2)
    for (const group of ['email', 'warehouse', 'analytics']) {
      const pending = (await bed.redis.call('XPENDING', streamKey(keyPrefix, 'checkout'), group)) as [number]
      expect(pending[0], group).toBe(0)
    }
    expect(await getOutboxStatus({ pool: bed.db.pool, schema })).toMatchObject({ pending: 0, dead: 0 })
  })
})

describe('Redis Streams consumer', () => {
  it('leaves a failed message pending and retries it before anything after it', async () => {
    const keyPrefix = `${bed.keyPrefix}retry`
    await publishNumbered({ keyPrefix }, [1, 2, 3], 'Stepped')
    const seen: string[] = []
    let failOnce = true
    const consumer = consumerOf(bed, {
      keyPrefix,
      group: 'g',
      consumer: 'c1',
      handle: async (m) => {
        const { n } = m.payload as { n: number }
        if (n === 2 && failOnce) {
          failOnce = false
          seen.push('2!')
          throw new Error('transient')
        }
        seen.push(String(n))
      },
    })
    expect(await consumer.runOnce()).toEqual({ processed: 1, failed: 1, deadLettered: 0, claimed: 0 })
    expect(await consumer.runOnce()).toMatchObject({ processed: 2, failed: 0 })
    await consumer.stop()
    expect(seen).toEqual(['1', '2!', '2', '3'])
  })

  it('moves a message that keeps failing to the dead-letter stream after maxDeliveries and goes on', async () => {
    const keyPrefix = `${bed.keyPrefix}poison`
    const ids = (await publishNumbered({ keyPrefix }, [0, 1, 2])).map((m) => m.messageId)
    const handled: number[] = []
    const consumer = consumerOf(bed, {
      keyPrefix,
      group: 'g',
      consumer: 'c1',
      maxDeliveries: 3,
      handle: async (m) => {
        const { n } = m.payload as { n: number }
        if (n === 1) throw new Error('cannot handle 1')
        handled.push(n)
      },
    })
    const results = []
    for (let i = 0; i < 4; i++) results.push(await consumer.runOnce())
    await consumer.stop()
    expect(handled).toEqual([0, 2])
    expect(results.map((x) => x.failed)).toEqual([1, 1, 0, 0])
    expect(results[2]).toMatchObject({ deadLettered: 1, processed: 1 })
    const dead = await bed.redis.xrange(deadLetterStreamKey(keyPrefix, 't', 'g'), '-', '+')
    expect(dead).toHaveLength(1)
    const fields = dead[0]?.[1] ?? []
    expect(fields[fields.indexOf('messageId') + 1]).toBe(ids[1])
    expect(fields[fields.indexOf('error') + 1]).toBe('Error: cannot handle 1')
    const pending = (await bed.redis.call('XPENDING', streamKey(keyPrefix, 't'), 'g')) as [number]
    expect(pending[0]).toBe(0)
  })

  it('skips a duplicate delivery and records nothing when the handler fails (idempotent handler)', async () => {
    const schema = 'idem'
    await migrateOutbox({ pool: bed.db.pool, schema })
    await bed.db.pool.query(`CREATE TABLE ${schema}.effects (message_id text)`)
    let fail = true
    const handle = createIdempotentHandler<{ messageId: string }>({
      pool: bed.db.pool,
      schema,
      consumer: 'ledger',
      handle: async (m, tx) => {
        await tx.query(`INSERT INTO ${schema}.effects VALUES ($1)`, [m.messageId])
        await new Promise((res) => setTimeout(res, 50))
        if (fail) throw new Error('handler failed')
      },
    })
    const id = randomUUID()
    await expect(handle({ messageId: id })).rejects.toThrow('handler failed')
    expect((await bed.db.pool.query(`SELECT * FROM ${schema}.processed_messages`)).rows).toEqual([])
    fail = false
    // Two concurrent deliveries of one message: the second waits on the first and is skipped.
    const outcomes = await Promise.all([handle({ messageId: id }), handle({ messageId: id })])
    expect(outcomes.sort()).toEqual(['duplicate', 'processed'])
    expect(await handle({ messageId: id })).toBe('duplicate')
    expect((await bed.db.pool.query(`SELECT message_id FROM ${schema}.effects`)).rows).toEqual([{ message_id: id }])
    // Another consumer keeps its own record.
    const other = createIdempotentHandler<{ messageId: string }>({
      pool: bed.db.pool,
      schema,
      consumer: 'audit',
      handle: async () => undefined,
    })
    expect(await other({ messageId: id })).toBe('processed')
  })

  it('trims streams with MAXLEN ~ to the given bound, and never with maxLen: unbounded', async () => {
    const keyPrefix = `${bed.keyPrefix}trim`
    const hundred = Array.from({ length: 100 }, (_, n) => n)
    for (let i = 0; i < 5; i++) await publishNumbered({ keyPrefix, maxLen: 10 }, hundred)
    const len = await bed.redis.xlen(streamKey(keyPrefix, 't'))
    expect(len).toBeLessThan(500)
    expect(len).toBeGreaterThanOrEqual(10)
    const untrimmed = `${bed.keyPrefix}untrimmed`
    for (let i = 0; i < 5; i++) await publishNumbered({ keyPrefix: untrimmed, maxLen: 'unbounded' }, hundred)
    expect(await bed.redis.xlen(streamKey(untrimmed, 't'))).toBe(500)
  })

  it('rejects with the ids Redis refused', async () => {
    const keyPrefix = `${bed.keyPrefix}wrongtype`
    await bed.redis.set(streamKey(keyPrefix, 'broken'), 'not a stream')
    const publisher = createRedisStreamsPublisher({ redis: bed.redis, keyPrefix })
    const ok = { messageId: randomUUID(), topic: 'fine', partitionKey: 'k', type: 'X', payload: {}, headers: {} }
    const bad = { ...ok, messageId: randomUUID(), topic: 'broken' }
    await expect(publisher.publish([ok, bad])).rejects.toMatchObject({
      code: 'ANNALS_OUTBOX_ERR_PUBLISH_FAILED',
      messageIds: [bad.messageId],
    })
  })
})
