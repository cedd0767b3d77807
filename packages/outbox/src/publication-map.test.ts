import type { Event, PublishableEvent } from '@annals/core'
import { outboxMessageId } from '@annals/store-postgres/outbox'
import { describe, expect, it } from 'vitest'
import { publicationMap } from './publication-map.js'

type OrderPlaced = Event<'OrderPlaced', { orderId: string; customerId: string; total: number; internalNote: string }>
type OrderNoted = Event<'OrderNoted', { note: string }>
type OrderEvent = OrderPlaced | OrderNoted

function appending<E extends OrderEvent>(event: E): PublishableEvent<E> {
  return {
    ...event,
    eventId: '6f1c1b9e-7c1e-4d59-9d3e-0c8a2b1f4a10',
    streamId: 'order-1',
    schemaVersion: 1,
    metadata: { correlationId: 'req-1' },
  } as PublishableEvent<E>
}

const placed = appending({
  type: 'OrderPlaced',
  data: { orderId: 'o-1', customerId: 'c-9', total: 1200, internalNote: 'vip' },
})

describe('publicationMap', () => {
  // The envelope headers themselves are built by the store, with the real positions: see
  // test/publication-map.int.test.ts.
  it('publishes mapped types with the event id as message id, the stream id as default key, and the envelope', () => {
    const publish = publicationMap<OrderEvent>({ OrderPlaced: { topic: 'orders' } })
    expect(publish(placed)).toStrictEqual([
      {
        messageId: placed.eventId,
        topic: 'orders',
        partitionKey: 'order-1',
        type: 'OrderPlaced',
        payload: placed.data,
        envelope: true,
      },
    ])
  })

  it('publishes nothing for types the map does not route', () => {
    const publish = publicationMap<OrderEvent>({ OrderPlaced: { topic: 'orders' } })
    expect(publish(appending({ type: 'OrderNoted', data: { note: 'x' } }))).toEqual([])
  })

  it('turns the domain event into a public shape and a custom key', () => {
    const publish = publicationMap<OrderEvent>({
      OrderPlaced: {
        topic: 'orders',
        toMessage: (e) => ({
          type: 'orders.placed.v1',
          payload: { orderId: e.data.orderId, total: e.data.total },
          headers: { 'content-type': 'application/json' },
        }),
        partitionKey: (e) => e.data.customerId,
      },
    })
    const [m] = publish(placed)
    expect(m).toMatchObject({
      type: 'orders.placed.v1',
      payload: { orderId: 'o-1', total: 1200 },
      partitionKey: 'c-9',
      headers: { 'content-type': 'application/json' },
      envelope: true,
    })
  })

  it('gives each topic of a fanned-out type its own stable message id', () => {
    const publish = publicationMap<OrderEvent>({ OrderPlaced: [{ topic: 'orders' }, { topic: 'billing' }] })
    const first = publish(placed)
    const again = publish(placed)
    expect(first.map((m) => m.topic)).toEqual(['orders', 'billing'])
    expect(new Set(first.map((m) => m.messageId)).size).toBe(2)
    expect(again.map((m) => m.messageId)).toEqual(first.map((m) => m.messageId))
    for (const m of first)
      expect(m.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    // The one id rule: the store's, which also names the messages of a hand-written publish.
    expect(first.map((m) => m.messageId)).toEqual([0, 1].map((i) => outboxMessageId(placed.eventId, i, 2)))
  })

  it('rejects a topic listed twice, an empty key, and a mapping that throws, with a coded error', () => {
    expect(() => publicationMap<OrderEvent>({ OrderPlaced: [{ topic: 'a' }, { topic: 'a' }] })).toThrow(
      expect.objectContaining({ code: 'ANNALS_OUTBOX_ERR_INVALID_PUBLICATION' }),
    )
    const emptyKey = publicationMap<OrderEvent>({ OrderPlaced: { topic: 'a', partitionKey: () => '' } })
    expect(() => emptyKey(placed)).toThrow(expect.objectContaining({ code: 'ANNALS_OUTBOX_ERR_INVALID_PUBLICATION' }))
    const throwing = publicationMap<OrderEvent>({
      OrderPlaced: {
        topic: 'a',
        toMessage: () => {
          throw new Error('boom')
        },
      },
    })
    expect(() => throwing(placed)).toThrow(expect.objectContaining({ code: 'ANNALS_OUTBOX_ERR_INVALID_PUBLICATION' }))
  })
})
