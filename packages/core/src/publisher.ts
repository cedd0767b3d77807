import type { Event, EventMetadata, StreamId } from './event.js'

/** A message leaving the system through a broker (an integration event). */
export type OutboundMessage = Readonly<{
  /** Unique, stable id (the event id): consumers deduplicate on it. */
  messageId: string
  topic: string
  /** Messages with the same key are delivered in order. Default: the stream id. */
  partitionKey: string
  type: string
  payload: unknown
  /**
   * The payload already as JSON text, when the message was read that way (the outbox relay reads it
   * so): a publisher writing JSON sends it as is rather than serializing `payload` again. When both are
   * given they hold the same value.
   */
  payloadJson?: string
  headers: Readonly<Record<string, string>>
}>

/** The JSON text a broker receives as the message body: `payloadJson` when given, else `payload` serialized. */
export function payloadText(message: OutboundMessage): string {
  return message.payloadJson ?? JSON.stringify(message.payload ?? null)
}

/**
 * An event as an outbox mapping sees it: being appended, so it has its id, stream, metadata and schema
 * version but no positions yet (the store puts the real ones in the message's envelope headers).
 */
export type PublishableEvent<E extends Event = Event> = E &
  Readonly<{
    eventId: string
    streamId: StreamId
    schemaVersion: number
    metadata: EventMetadata
  }>

/**
 * What an outbox mapping yields for one event: an {@link OutboundMessage} the event store completes in
 * the append. Defaults: the event id as message id (one message) or a name-based id per message
 * (several), the stream id as key, the event type and data.
 */
export type OutboxMessage = Readonly<
  { topic: string } & Partial<Omit<OutboundMessage, 'topic'>> & {
      /**
       * Add the envelope headers (`annals-event-id`, `annals-event-type`, `annals-stream-id`,
       * `annals-stream-version`, `annals-global-position`, `annals-schema-version`,
       * `annals-recorded-at`), under the message's own. `correlation-id` and `causation-id` are always
       * added from the metadata; the positional headers always carry the real values.
       */
      envelope?: boolean
    }
>

/**
 * Publishes messages to a broker. Resolves only after the broker acknowledged every message of the
 * batch, in order; rejects (leaving the caller to retry) otherwise.
 */
export interface EventPublisher {
  publish(messages: readonly OutboundMessage[]): Promise<void>
  close?(): Promise<void>
}
