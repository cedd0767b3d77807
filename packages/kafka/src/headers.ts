/**
 * Kafka record headers the Annals publisher writes besides the message's own headers (which include
 * `correlation-id`, `causation-id` and, when a publication mapping puts it there, the W3C trace
 * context `traceparent`/`tracestate`). The record key is the partition key; the value is the JSON payload.
 */
export const KafkaHeaders = {
  messageId: 'annals-message-id',
  type: 'annals-message-type',
  /** Set by a redrive: only this group handles the record again; the others had it the first time. */
  redriveGroup: 'annals-redrive-group',
} as const

/**
 * Headers of a dead-letter record, after the original record's headers: where it was read, how often
 * the handler ran, and why it was given up.
 */
export const DeadLetterHeaders = {
  sourceTopic: 'annals-dlq-source-topic',
  sourcePartition: 'annals-dlq-source-partition',
  sourceOffset: 'annals-dlq-source-offset',
  group: 'annals-dlq-group',
  attempts: 'annals-dlq-attempts',
  /** `validation` (schema or envelope rejected, never retried) or `handler` (failed every attempt). */
  reason: 'annals-dlq-reason',
  error: 'annals-dlq-error',
  errorCode: 'annals-dlq-error-code',
  deadAt: 'annals-dlq-dead-at',
} as const

/** The dead-letter topic of a consumer group on a topic: `<topic>.<group>.dlq`. */
export function deadLetterTopic(topic: string, group: string): string {
  return `${topic}.${group}.dlq`
}

/**
 * The W3C trace context of an event's metadata (`traceparent`, `tracestate`) as message headers, for
 * a publication mapping: `toMessage: (e) => ({ payload, headers: traceHeaders(e.metadata) })`. The
 * Kafka publisher sends every message header, so the consumer side continues the trace.
 */
export function traceHeaders(metadata: Readonly<Record<string, unknown>> | undefined): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const name of ['traceparent', 'tracestate'] as const) {
    const value = metadata?.[name]
    if (typeof value === 'string' && value.length > 0) headers[name] = value
  }
  return headers
}
