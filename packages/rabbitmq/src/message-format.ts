import type { OutboundMessage } from '@annals/core'
import type { ConsumeMessage, Options } from 'amqplib'
import { RabbitMqInvalidMessageError } from './errors.js'

/**
 * AMQP headers the publisher adds to each message's own headers (which already carry `correlation-id`,
 * `causation-id`, the envelope headers and whatever trace context the publication map set, such as
 * `traceparent` and `tracestate`). The message id, event type and correlation id also travel as the
 * AMQP properties `messageId`, `type` and `correlationId`, where RabbitMQ tools show them.
 */
export const RabbitMqHeaders = {
  topic: 'annals-topic',
  partitionKey: 'annals-partition-key',
  /** Set by the consumer on a message it dead-letters: why, as `Name: message`. */
  deadReason: 'annals-dead-letter-reason',
  /** Set by the consumer on a message it dead-letters: the error's stable code, when it has one. */
  deadCode: 'annals-dead-letter-code',
  /** Set by the consumer on a message it dead-letters: deliveries so far. */
  deadAttempts: 'annals-dead-letter-attempts',
  /** Set by the consumer on a message it dead-letters: the queue it was consumed from. */
  deadQueue: 'annals-dead-letter-queue',
} as const

/** The AMQP properties of a published message: persistent JSON with the message's ids and headers. @internal */
export function publishOptions(m: OutboundMessage, mandatory: boolean): Options.Publish {
  const correlationId = m.headers['correlation-id']
  return {
    persistent: true,
    mandatory,
    contentType: 'application/json',
    messageId: m.messageId,
    type: m.type,
    ...(correlationId !== undefined ? { correlationId } : {}),
    timestamp: Math.floor(Date.now() / 1000),
    appId: 'annals',
    headers: { ...m.headers, [RabbitMqHeaders.topic]: m.topic, [RabbitMqHeaders.partitionKey]: m.partitionKey },
  }
}

/** A message read from a queue: the published message (deduplicate on its `messageId`) and how often the broker delivered it. */
export type RabbitMqMessage = OutboundMessage &
  Readonly<{
    /** The routing key it was published with. */
    routingKey: string
    /** Deliveries of this message so far, this one included (the quorum queue's `x-delivery-count` + 1). */
    attempt: number
  }>

/** Parses a delivery written by the Annals publisher; a malformed one is a `RabbitMqInvalidMessageError`. @internal */
export function parseDelivery(delivery: ConsumeMessage): RabbitMqMessage {
  const props = delivery.properties
  const raw = (props.headers ?? {}) as Record<string, unknown>
  const messageId = typeof props.messageId === 'string' && props.messageId !== '' ? props.messageId : undefined
  if (messageId === undefined) throw new RabbitMqInvalidMessageError(undefined, 'no messageId property')
  if (typeof props.type !== 'string' || props.type === '') {
    throw new RabbitMqInvalidMessageError(messageId, 'no type property')
  }
  let payload: unknown
  try {
    payload = JSON.parse(delivery.content.toString('utf8'))
  } catch (error) {
    throw new RabbitMqInvalidMessageError(messageId, 'the body is not JSON', { cause: error })
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value === 'string' && !name.startsWith('x-')) headers[name] = value
    else if (Buffer.isBuffer(value)) headers[name] = value.toString('utf8')
  }
  return {
    messageId,
    type: props.type,
    topic: headers[RabbitMqHeaders.topic] ?? delivery.fields.exchange,
    partitionKey: headers[RabbitMqHeaders.partitionKey] ?? '',
    payload,
    headers,
    routingKey: delivery.fields.routingKey,
    attempt: deliveryCount(delivery) + 1,
  }
}

/**
 * Earlier deliveries of a message: a quorum queue counts returns (a nack with requeue, a channel or
 * consumer that went away with the message unacknowledged) in `x-delivery-count`. @internal
 */
export function deliveryCount(delivery: ConsumeMessage): number {
  const count = Number((delivery.properties.headers as Record<string, unknown> | undefined)?.['x-delivery-count'] ?? 0)
  return Number.isFinite(count) && count > 0 ? count : 0
}
