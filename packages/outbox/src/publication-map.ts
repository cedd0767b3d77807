import { createHash } from 'node:crypto'
import type { Event, OutboundMessage, RecordedEvent } from '@annals/core'
import { InvalidPublicationError } from './errors.js'

/** The public shape a mapping turns a domain event into (an integration event). */
export type IntegrationMessage = Readonly<{
  /** Message type seen by consumers. Default: the event type. */
  type?: string
  payload: unknown
  /** Extra headers, merged over the default ones. */
  headers?: Readonly<Record<string, string>>
}>

/** Where one event type goes and how it looks there. */
export type PublicationRoute<E extends RecordedEvent = RecordedEvent> = Readonly<{
  topic: string
  /** Turns the domain event into its public shape. Default: `{ type: event.type, payload: event.data }`. */
  toMessage?: (event: E) => IntegrationMessage
  /** Messages with the same key reach consumers in order. Default: the stream id. */
  partitionKey?: (event: E) => string
}>

/** Event type → one route or several (one per topic). Types not listed are not published. */
export type PublicationMap<E extends Event = Event> = {
  readonly [T in E['type']]?:
    | PublicationRoute<RecordedEvent<Extract<E, { type: T }>>>
    | readonly PublicationRoute<RecordedEvent<Extract<E, { type: T }>>>[]
}

/** The function the Postgres event store calls for each appended event, inside the append's transaction. */
export type PublishFunction = (event: RecordedEvent) => OutboundMessage[]

/** Headers every published message carries, derived from the event's envelope. */
export function envelopeHeaders(event: RecordedEvent): Record<string, string> {
  const headers: Record<string, string> = {
    'annals-event-id': event.eventId,
    'annals-event-type': event.type,
    'annals-stream-id': event.streamId,
    'annals-stream-version': event.streamVersion.toString(),
    'annals-global-position': event.globalPosition.toString(),
    'annals-schema-version': String(event.schemaVersion),
    'annals-recorded-at': event.recordedAt.toISOString(),
  }
  if (typeof event.metadata.correlationId === 'string') headers['correlation-id'] = event.metadata.correlationId
  if (typeof event.metadata.causationId === 'string') headers['causation-id'] = event.metadata.causationId
  return headers
}

/** A name-based (version 5) UUID, so that one event sent to two topics gets two stable message ids. */
function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replaceAll('-', ''), 'hex')
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest()
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * Builds the `publish` function the Postgres event store takes from a map of event type → topic.
 * The message id is the event id (with several routes for one type, a UUIDv5 of event id and topic).
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
    const base = envelopeHeaders(event)
    return list.map((route) => {
      let shape: IntegrationMessage
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
      return {
        messageId: list.length === 1 ? event.eventId : uuidV5(event.eventId, route.topic),
        topic: route.topic,
        partitionKey,
        type: shape.type ?? event.type,
        payload: shape.payload,
        headers: { ...base, ...shape.headers },
      }
    })
  }
}
