import type { Event, OutboundMessage, OutboxMessage, PublishableEvent } from '@annals/core'
import type { OutboxOptions } from '@annals/store-postgres'
import { describe, expectTypeOf, it } from 'vitest'
import { type PublishFunction, publicationMap } from './publication-map.js'

type OrderPlaced = Event<'OrderPlaced', { orderId: string; total: number }>
type OrderCancelled = Event<'OrderCancelled', { reason: string }>
type OrderEvent = OrderPlaced | OrderCancelled

describe('publicationMap typing', () => {
  it('hands each mapping the event being appended, of its own type, without positions', () => {
    publicationMap<OrderEvent>({
      OrderPlaced: {
        topic: 'orders',
        toMessage: (e) => {
          expectTypeOf(e).toEqualTypeOf<PublishableEvent<OrderPlaced>>()
          // @ts-expect-error positions are not known while the append runs
          e.globalPosition
          expectTypeOf(e.data.total).toEqualTypeOf<number>()
          return { payload: { id: e.data.orderId } }
        },
      },
      OrderCancelled: [{ topic: 'orders', partitionKey: (e) => e.data.reason }],
    })
  })

  it('rejects event types the union does not have, and a mapping reading the wrong data', () => {
    // @ts-expect-error OrderShipped is not an OrderEvent
    publicationMap<OrderEvent>({ OrderShipped: { topic: 'x' } })
    publicationMap<OrderEvent>({
      OrderCancelled: {
        topic: 'orders',
        // @ts-expect-error an OrderCancelled has no orderId
        toMessage: (e) => ({ payload: e.data.orderId }),
      },
    })
  })

  it('produces what the Postgres event store takes as outbox.publish', () => {
    expectTypeOf(publicationMap<OrderEvent>({})).toEqualTypeOf<PublishFunction>()
    expectTypeOf<PublishFunction>().toExtend<OutboxOptions['publish']>()
    expectTypeOf<ReturnType<PublishFunction>>().toEqualTypeOf<OutboxMessage[]>()
    // One message type: what a mapping yields is the broker's message with defaults left out.
    expectTypeOf<OutboundMessage>().toExtend<OutboxMessage>()
  })
})
