import { AnnalsError, isAnnalsError } from '@annals/core'

/**
 * Every error code `@annals/rabbitmq` can raise. Codes are stable: never reused, never renamed.
 * Documented in `packages/rabbitmq/docs/errors.md`. A batch the broker did not confirm reaches the relay
 * as the outbox's `PublishFailedError` (`ANNALS_OUTBOX_ERR_PUBLISH_FAILED`, naming the messages), with
 * one of the errors below as its `cause`.
 */
export const RabbitMqErrorCodes = {
  INVALID_OPTION: 'ANNALS_RABBITMQ_ERR_INVALID_OPTION',
  NACKED: 'ANNALS_RABBITMQ_ERR_NACKED',
  UNROUTABLE: 'ANNALS_RABBITMQ_ERR_UNROUTABLE',
  CHANNEL_CLOSED: 'ANNALS_RABBITMQ_ERR_CHANNEL_CLOSED',
  DECLARATION: 'ANNALS_RABBITMQ_ERR_DECLARATION',
  INVALID_MESSAGE: 'ANNALS_RABBITMQ_ERR_INVALID_MESSAGE',
  NO_HANDLER: 'ANNALS_RABBITMQ_ERR_NO_HANDLER',
  DELIVERY_LIMIT: 'ANNALS_RABBITMQ_ERR_DELIVERY_LIMIT',
  ALREADY_STARTED: 'ANNALS_RABBITMQ_ERR_ALREADY_STARTED',
} as const

/** Union of the codes in {@link RabbitMqErrorCodes}. */
export type RabbitMqErrorCode = (typeof RabbitMqErrorCodes)[keyof typeof RabbitMqErrorCodes]

/** An option given to a publisher, consumer or declaration helper is out of range. */
export class RabbitMqInvalidOptionError extends AnnalsError<'ANNALS_RABBITMQ_ERR_INVALID_OPTION'> {
  declare readonly option: string
  constructor(option: string, message: string, options?: { cause?: unknown }) {
    super(RabbitMqErrorCodes.INVALID_OPTION, `Invalid option ${option}: ${message}`, { ...options, fields: { option } })
  }
}

/** The broker answered a publish with `basic.nack`: it did not take responsibility for the message. */
export class RabbitMqNackedError extends AnnalsError<'ANNALS_RABBITMQ_ERR_NACKED'> {
  declare readonly messageIds: readonly string[]
  constructor(messageIds: readonly string[]) {
    super(RabbitMqErrorCodes.NACKED, `RabbitMQ nacked ${messageIds.length} message(s)`, { fields: { messageIds } })
  }
}

/** A mandatory publish matched no queue: the broker returned it (`basic.return`) instead of dropping it. */
export class RabbitMqUnroutableError extends AnnalsError<'ANNALS_RABBITMQ_ERR_UNROUTABLE'> {
  declare readonly messageIds: readonly string[]
  declare readonly exchange: string
  declare readonly routingKey: string
  constructor(messageIds: readonly string[], exchange: string, routingKey: string, replyText: string) {
    super(
      RabbitMqErrorCodes.UNROUTABLE,
      `RabbitMQ returned ${messageIds.length} message(s) published to exchange "${exchange}" with routing key "${routingKey}": ${replyText} (no queue is bound for it)`,
      { fields: { messageIds, exchange, routingKey } },
    )
  }
}

/** The channel (or its connection) closed before the broker confirmed the messages. `cause` holds why, when known. */
export class RabbitMqChannelClosedError extends AnnalsError<'ANNALS_RABBITMQ_ERR_CHANNEL_CLOSED'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(RabbitMqErrorCodes.CHANNEL_CLOSED, message, options)
  }
}

/**
 * Declaring an exchange, queue or binding failed, usually because one of the same name exists with other
 * settings (`PRECONDITION_FAILED`). `cause` holds the broker's error.
 */
export class RabbitMqDeclarationError extends AnnalsError<'ANNALS_RABBITMQ_ERR_DECLARATION'> {
  declare readonly entity: string
  constructor(entity: string, options?: { cause?: unknown }) {
    super(RabbitMqErrorCodes.DECLARATION, `Declaring ${entity} failed: ${errorLine(options?.cause)}`, {
      ...options,
      fields: { entity },
    })
  }
}

/**
 * A consumed message lacks the fields the Annals publisher writes, its body is not JSON, or its payload
 * fails the handler's schema. The consumer dead-letters it with this error as the reason.
 */
export class RabbitMqInvalidMessageError extends AnnalsError<'ANNALS_RABBITMQ_ERR_INVALID_MESSAGE'> {
  declare readonly messageId: string | undefined
  constructor(messageId: string | undefined, message: string, options?: { cause?: unknown }) {
    super(RabbitMqErrorCodes.INVALID_MESSAGE, `Message ${messageId ?? '(no id)'}: ${message}`, {
      ...options,
      fields: { messageId },
    })
  }
}

/** A consumed message has a type no handler was given for; the consumer dead-letters it (or acks it when told to). */
export class RabbitMqNoHandlerError extends AnnalsError<'ANNALS_RABBITMQ_ERR_NO_HANDLER'> {
  declare readonly messageType: string
  constructor(messageType: string) {
    super(RabbitMqErrorCodes.NO_HANDLER, `No handler for message type "${messageType}"`, { fields: { messageType } })
  }
}

/** A message failed (or was delivered without its handler finishing) `maxAttempts` times and was dead-lettered. */
export class RabbitMqDeliveryLimitError extends AnnalsError<'ANNALS_RABBITMQ_ERR_DELIVERY_LIMIT'> {
  declare readonly attempts: number
  constructor(attempts: number, message: string, options?: { cause?: unknown }) {
    super(RabbitMqErrorCodes.DELIVERY_LIMIT, message, { ...options, fields: { attempts } })
  }
}

/** `start()` was called on a consumer that is already running. */
export class RabbitMqAlreadyStartedError extends AnnalsError<'ANNALS_RABBITMQ_ERR_ALREADY_STARTED'> {
  constructor(what: string) {
    super(RabbitMqErrorCodes.ALREADY_STARTED, `${what} is already running: call stop() first`)
  }
}

/** True when `error` is one of the RabbitMQ errors that explain a failed publish (nack, return, closed channel). */
export function isRabbitMqPublishError(
  error: unknown,
): error is RabbitMqNackedError | RabbitMqUnroutableError | RabbitMqChannelClosedError {
  return (
    isAnnalsError(error, RabbitMqErrorCodes.NACKED) ||
    isAnnalsError(error, RabbitMqErrorCodes.UNROUTABLE) ||
    isAnnalsError(error, RabbitMqErrorCodes.CHANNEL_CLOSED)
  )
}

/** An error as one line of text for a log or a dead-letter header, cut at 2000 characters. @internal */
export function errorLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text
}
