import type { Event, OutboundMessage, RecordedEvent } from '@annals/core'
import type { OutboxOptions } from '@annals/store-postgres'
import { describe, expectTypeOf, it } from 'vitest'
import { type PublishFunction, publicationMap } from './publication-map.js'

type OrderPlaced = Event<'OrderPlaced', { orderId: string; total: number }>
type OrderCancelled = Event<'OrderCancelled', { reason: string }>
type OrderEvent = OrderPlaced | OrderCancelled

describe('publicationMap typing', () => {
  it('hands each mapping the recorded event of its own type', () => {
    publicationMap<OrderEvent>({
      OrderPlaced: {
        topic: 'orders',
        toMessage: (e) => {
          expectTypeOf(e).toEqualTypeOf<RecordedEvent<OrderPlaced>>()
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
    expectTypeOf<ReturnType<PublishFunction>>().toEqualTypeOf<OutboundMessage[]>()
  })
})
