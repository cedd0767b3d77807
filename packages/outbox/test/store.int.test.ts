import type { Event } from '@annals/core'
import { createPostgresEventStore, createPostgresLogWatcher, migrate } from '@annals/store-postgres'
import { waitFor } from '@annals/test-support'
import { beforeAll, describe, expect, it } from 'vitest'
import { migrateOutbox } from '../src/migrate-outbox.js'
import { publicationMap } from '../src/publication-map.js'
import { streamKey } from '../src/redis-streams-publisher.js'
import { listening, readStream, relayTo, useTestbed } from './helpers.js'

type OrderPlaced = Event<'OrderPlaced', { orderId: string; totalCents: number; fraudScore: number }>
type OrderNoted = Event<'OrderNoted', { note: string }>
type OrderEvent = OrderPlaced | OrderNoted

const schema = 'shop'
const bed = useTestbed('store')

beforeAll(async () => {
  await migrate({ pool: bed.db.pool, schema })
  await migrateOutbox({ pool: bed.db.pool, schema })
})

const publish = publicationMap<OrderEvent>({
  OrderPlaced: {
    topic: 'orders',
    toMessage: (e) => ({
      type: 'orders.placed.v1',
      payload: { orderId: e.data.orderId, totalCents: e.data.totalCents },
    }),
  },
})

function placed(orderId: string): OrderPlaced {
  return { type: 'OrderPlaced', data: { orderId, totalCents: 1999, fraudScore: 0.4 } }
}

async function outboxRows(): Promise<Record<string, unknown>[]> {
  const { rows } = await bed.db.pool.query(
    `SELECT message_id, topic, partition_key, type, payload, headers, event_id, event_position::text AS event_position
       FROM ${schema}.outbox ORDER BY id`,
  )
  return rows
}

describe('through the Postgres event store', () => {
  it('appendToStream writes one row per routed event in its transaction; the relay publishes it with the real envelope', async () => {
    const store = createPostgresEventStore({ pool: bed.db.pool, schema, outbox: { publish } })
    const result = await store.appendToStream<OrderEvent>(
      'order-1',
      [placed('o-1'), { type: 'OrderNoted', data: { note: 'gift wrap' } }],
      { expectedVersion: 'no-stream' },
    )
    const event = result.events[0]
    if (event === undefined) throw new Error('no event recorded')
    const rows = await outboxRows()
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      message_id: event.eventId,
      topic: 'orders',
      partition_key: 'order-1',
      type: 'orders.placed.v1',
      payload: { orderId: 'o-1', totalCents: 1999 },
      event_id: event.eventId,
      event_position: event.globalPosition.toString(),
      headers: {
        'annals-event-id': event.eventId,
        'annals-stream-id': 'order-1',
        'annals-stream-version': '1',
        'annals-global-position': event.globalPosition.toString(),
      },
    })

    const keyPrefix = `${bed.keyPrefix}first`
    const relay = relayTo(bed, keyPrefix, { schema })
    expect(await relay.runOnce()).toMatchObject({ published: 1 })
    const entries = await readStream(bed.redis, streamKey(keyPrefix, 'orders'))
    expect(entries.map((e) => e.fields.messageId)).toEqual([event.eventId])
    expect(JSON.parse(entries[0]?.fields.payload ?? 'null')).toEqual({ orderId: 'o-1', totalCents: 1999 })
  })

  it('a rolled-back append writes no outbox row and publishes nothing; only committed appends reach the broker', async () => {
    await bed.db.pool.query(`DELETE FROM ${schema}.outbox`)
    const store = createPostgresEventStore({ pool: bed.db.pool, schema, outbox: { publish } })
    // A version conflict on one stream of an atomic two-stream append rolls back the other stream too.
    await expect(
      store.appendToStreams([
        { streamId: 'order-2', events: [placed('o-2')], expectedVersion: 'no-stream' },
        { streamId: 'order-1', events: [placed('o-1b')], expectedVersion: 'no-stream' },
      ]),
    ).rejects.toMatchObject({ code: 'ANNALS_ERR_CONCURRENCY' })
    await expect(store.appendToStream('order-3', [placed('o-3')], { expectedVersion: 7n })).rejects.toMatchObject({
      code: 'ANNALS_ERR_CONCURRENCY',
    })
    // A mapping that throws fails the append as a whole: no event, no message.
    const failing = createPostgresEventStore({
      pool: bed.db.pool,
      schema,
      outbox: {
        publish: publicationMap<OrderEvent>({
          OrderPlaced: {
            topic: 'orders',
            partitionKey: (e) => {
              if (e.data.orderId === 'o-4') throw new Error('no key for o-4')
              return e.streamId
            },
          },
        }),
      },
    })
    await expect(failing.appendToStream('order-4', [placed('o-4')])).rejects.toMatchObject({
      code: 'ANNALS_OUTBOX_ERR_INVALID_PUBLICATION',
    })
    expect((await store.readStream('order-2')).streamExists).toBe(false)
    expect((await store.readStream('order-4')).streamExists).toBe(false)
    expect(await outboxRows()).toEqual([])

    await store.appendToStream('order-5', [placed('o-5')], { expectedVersion: 'no-stream' })
    const keyPrefix = `${bed.keyPrefix}rollback`
    const relay = relayTo(bed, keyPrefix, { schema })
    while ((await relay.runOnce()).claimed > 0) {
      // drain
    }
    const entries = await readStream(bed.redis, streamKey(keyPrefix, 'orders'))
    expect(entries.map((e) => e.fields.partitionKey)).toEqual(['order-5'])
  })

  it('an idempotent re-send of the same events writes no second outbox row', async () => {
    await bed.db.pool.query(`DELETE FROM ${schema}.outbox`)
    const store = createPostgresEventStore({ pool: bed.db.pool, schema, outbox: { publish } })
    const eventId = '0a6f3f0e-6b1e-4a39-9a55-2d0c7f1f2b01'
    const first = await store.appendToStream('order-6', [{ ...placed('o-6'), eventId }], {
      expectedVersion: 'no-stream',
    })
    const again = await store.appendToStream('order-6', [{ ...placed('o-6'), eventId }], {
      expectedVersion: 'no-stream',
    })
    expect(first.duplicate).toBe(false)
    expect(again.duplicate).toBe(true)
    expect((await outboxRows()).map((row) => row.message_id)).toEqual([eventId])
  })

  it("wakes the relay on the store's append notification (through the store's log watcher)", async () => {
    await bed.db.pool.query(`DELETE FROM ${schema}.outbox`)
    const store = createPostgresEventStore({ pool: bed.db.pool, schema, outbox: { publish } })
    const keyPrefix = `${bed.keyPrefix}notify`
    const watcher = createPostgresLogWatcher({ pool: bed.db.pool, schema })
    const relay = relayTo(bed, keyPrefix, { schema, pollIntervalMs: 600_000, watcher })
    await relay.start()
    try {
      // Once the watcher listens, the relay's loop sleeps for ten minutes after each empty poll.
      await watcher.ready()
      await waitFor('the watcher to LISTEN', listening(bed.db.pool), 10_000)
      await store.appendToStream('order-7', [placed('o-7')], { expectedVersion: 'no-stream' })
      await waitFor('the wake-up', async () => (await bed.redis.xlen(streamKey(keyPrefix, 'orders'))) === 1, 20_000)
    } finally {
      await relay.stop()
      await watcher.close()
    }
    const entries = await readStream(bed.redis, streamKey(keyPrefix, 'orders'))
    expect(entries.map((e) => e.fields.partitionKey)).toEqual(['order-7'])
  })
})
