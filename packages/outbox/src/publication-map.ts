import type { Event, OutboxMessage, PublishableEvent } from '@annals/core'
import { outboxMessageId } from '@annals/store-postgres/outbox'
import { InvalidPublicationError } from './errors.js'

/** Where one event type goes and how it looks there. */
export type PublicationRoute<E extends PublishableEvent = PublishableEvent> = Readonly<{
  topic: string
  /** Turns the domain event into its public shape. Default: `{ type: event.type, payload: event.data }`. */
  toMessage?: (event: E) => Pick<OutboxMessage, 'type' | 'payload' | 'headers'>
  /** Messages with the same key reach consumers in order. Default: the stream id. */
  partitionKey?: (event: E) => string
}>

/** Event type → one route or several (one per topic). Types not listed are not published. */
export type PublicationMap<E extends Event = Event> = {
  readonly [T in E['type']]?:
    | PublicationRoute<PublishableEvent<Extract<E, { type: T }>>>
    | readonly PublicationRoute<PublishableEvent<Extract<E, { type: T }>>>[]
}

/** The function the Postgres event store calls for each appended event, inside the append's transaction. */
export type PublishFunction = (event: PublishableEvent) => OutboxMessage[]

/**
 * Builds the `publish` function the Postgres event store takes from a map of event type → topic.
 * Every message carries the envelope headers (added by the store, with the real positions); the
 * message id is the event id, or with several routes for one type, the store's `outboxMessageId`.
 * @example
 * const publish = publicationMap<OrderEvent>({
 *   OrderPlaced: { topic: 'orders', toMessage: (e) => ({ payload: { orderId: e.data.orderId } }) },
 * })
 */
export function publicationMap<E extends Event = Event>(map: PublicationMap<E>): PublishFunction {
  const routes = new Map<string, readonly PublicationRoute[]>()
  for (const [eventType, value] of Object.entries(map as Record<string, unknown>)) {
    if (value === undefined) continue
    const list = (Array.isArray(value) ? value : [value]) as PublicationRoute[]
    const topics = new Set<string>()
    for (const route of list) {
      if (typeof route.topic !== 'string' || route.topic.length === 0) {
        throw new InvalidPublicationError(eventType, 'topic must be a non-empty string')
      }
      if (topics.has(route.topic)) throw new InvalidPublicationError(eventType, `topic "${route.topic}" appears twice`)
      topics.add(route.topic)
    }
    if (list.length > 0) routes.set(eventType, list)
  }
  return (event) => {
    const list = routes.get(event.type)
    if (list === undefined) return []
    return list.map((route, index) => {
      let shape: Pick<OutboxMessage, 'type' | 'payload' | 'headers'>
      let partitionKey: string
      try {
        shape = route.toMessage ? route.toMessage(event) : { type: event.type, payload: event.data }
        partitionKey = route.partitionKey ? route.partitionKey(event) : event.streamId
      } catch (error) {
        throw new InvalidPublicationError(event.type, `mapping to topic "${route.topic}" threw`, { cause: error })
      }
      if (typeof partitionKey !== 'string' || partitionKey.length === 0) {
        throw new InvalidPublicationError(event.type, `partition key for topic "${route.topic}" is empty`)
      }
      const message: OutboxMessage = {
        messageId: outboxMessageId(event.eventId, index, list.length),
        topic: route.topic,
        partitionKey,
        type: shape.type ?? event.type,
        payload: shape.payload,
        envelope: true,
      }
      return shape.headers ? { ...message, headers: shape.headers } : message
    })
  }
}
