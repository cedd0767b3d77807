import { AnnalsError, isAnnalsError } from '@annals/core'
import { describe } from './client.js'

/**
 * Every error code `@annals/kafka` can raise. Codes are stable: never reused, never renamed.
 * Documented in `packages/kafka/docs/errors.md`. A batch the broker did not take is the outbox's
 * `PublishFailedError` (`ANNALS_OUTBOX_ERR_PUBLISH_FAILED`), so the relay retries it with its backoff.
 */
export const KafkaErrorCodes = {
  INVALID_OPTION: 'ANNALS_KAFKA_ERR_INVALID_OPTION',
  ALREADY_STARTED: 'ANNALS_KAFKA_ERR_ALREADY_STARTED',
  INVALID_MESSAGE: 'ANNALS_KAFKA_ERR_INVALID_MESSAGE',
  GROUP_ACTIVE: 'ANNALS_KAFKA_ERR_GROUP_ACTIVE',
  UNKNOWN_GROUP: 'ANNALS_KAFKA_ERR_UNKNOWN_GROUP',
  UNKNOWN_TOPIC: 'ANNALS_KAFKA_ERR_UNKNOWN_TOPIC',
  BROKER: 'ANNALS_KAFKA_ERR_BROKER',
} as const

/** Union of the codes in {@link KafkaErrorCodes}. */
export type KafkaErrorCode = (typeof KafkaErrorCodes)[keyof typeof KafkaErrorCodes]

/** An option given to a publisher, consumer or admin function is missing or out of range. */
export class KafkaInvalidOptionError extends AnnalsError<'ANNALS_KAFKA_ERR_INVALID_OPTION'> {
  declare readonly option: string
  constructor(option: string, message: string, options?: { cause?: unknown }) {
    super(KafkaErrorCodes.INVALID_OPTION, `Invalid option ${option}: ${message}`, { ...options, fields: { option } })
  }
}

/** `start()` was called on a consumer that is already running. */
export class KafkaAlreadyStartedError extends AnnalsError<'ANNALS_KAFKA_ERR_ALREADY_STARTED'> {
  constructor(what: string) {
    super(KafkaErrorCodes.ALREADY_STARTED, `${what} is already running: call stop() first`)
  }
}

/**
 * A consumed record is not an Annals message (no message id or type header, a value that is not
 * JSON) or its payload fails the handler's schema. The consumer dead-letters it with this reason.
 */
export class KafkaInvalidMessageError extends AnnalsError<'ANNALS_KAFKA_ERR_INVALID_MESSAGE'> {
  declare readonly topic: string
  declare readonly partition: number
  declare readonly offset: string
  constructor(where: Readonly<{ topic: string; partition: number; offset: string }>, message: string) {
    super(KafkaErrorCodes.INVALID_MESSAGE, `${where.topic}[${where.partition}]@${where.offset}: ${message}`, {
      fields: { topic: where.topic, partition: where.partition, offset: where.offset },
    })
  }
}

/** An offset reset was asked for a group that still has members: stop every consumer of the group first. */
export class KafkaGroupActiveError extends AnnalsError<'ANNALS_KAFKA_ERR_GROUP_ACTIVE'> {
  declare readonly group: string
  declare readonly members: number
  declare readonly state: string
  constructor(group: string, members: number, state: string) {
    super(
      KafkaErrorCodes.GROUP_ACTIVE,
      `Consumer group "${group}" has ${members} active member(s) (state ${state}): stop its consumers before resetting offsets`,
      { fields: { group, members, state } },
    )
  }
}

/** The consumer group named has never committed offsets on the broker (or does not exist). */
export class KafkaUnknownGroupError extends AnnalsError<'ANNALS_KAFKA_ERR_UNKNOWN_GROUP'> {
  declare readonly group: string
  constructor(group: string) {
    super(KafkaErrorCodes.UNKNOWN_GROUP, `Consumer group "${group}" is not known to the broker`, { fields: { group } })
  }
}

/** The topic named does not exist on the broker. */
export class KafkaUnknownTopicError extends AnnalsError<'ANNALS_KAFKA_ERR_UNKNOWN_TOPIC'> {
  declare readonly topic: string
  constructor(topic: string, options?: { cause?: unknown }) {
    super(KafkaErrorCodes.UNKNOWN_TOPIC, `Topic "${topic}" does not exist`, { ...options, fields: { topic } })
  }
}

/** The broker refused or did not answer an admin or dead-letter operation. `cause` holds the client error. */
export class KafkaBrokerError extends AnnalsError<'ANNALS_KAFKA_ERR_BROKER'> {
  declare readonly operation: string
  constructor(operation: string, options: { cause: unknown }) {
    super(KafkaErrorCodes.BROKER, `Kafka ${operation} failed: ${describe(options.cause)}`, {
      ...options,
      fields: { operation },
    })
  }
}

/** True when `error` is a {@link KafkaGroupActiveError}. Works across package copies. */
export function isKafkaGroupActiveError(error: unknown): error is KafkaGroupActiveError {
  return isAnnalsError(error, KafkaErrorCodes.GROUP_ACTIVE)
}
