/** A message leaving the system through a broker (an integration event). */
export type OutboundMessage = Readonly<{
  /** Unique, stable id (the event id): consumers deduplicate on it. */
  messageId: string
  topic: string
  /** Messages with the same key are delivered in order. Default: the stream id. */
  partitionKey: string
  type: string
  payload: unknown
  headers: Readonly<Record<string, string>>
}>

/**
 * Publishes messages to a broker. Resolves only after the broker acknowledged every message of the
 * batch, in order; rejects (leaving the caller to retry) otherwise.
 */
export interface EventPublisher {
  publish(messages: readonly OutboundMessage[]): Promise<void>
  close?(): Promise<void>
}
