import { AnnalsError, isAnnalsError } from '@annals/core'

/**
 * Every error code `@annals/outbox` can raise. Codes are stable: never reused, never renamed.
 * Documented in `packages/outbox/docs/errors.md`. A bad schema name or table prefix raises the store
 * toolkit's `PgInvalidIdentifierError` (`ANNALS_PG_ERR_INVALID_IDENTIFIER`), as in every package.
 */
export const OutboxErrorCodes = {
  INVALID_OPTION: 'ANNALS_OUTBOX_ERR_INVALID_OPTION',
  INVALID_PUBLICATION: 'ANNALS_OUTBOX_ERR_INVALID_PUBLICATION',
  MIGRATION: 'ANNALS_OUTBOX_ERR_MIGRATION',
  PUBLISH_FAILED: 'ANNALS_OUTBOX_ERR_PUBLISH_FAILED',
  PUBLISH_TIMEOUT: 'ANNALS_OUTBOX_ERR_PUBLISH_TIMEOUT',
  MALFORMED_MESSAGE: 'ANNALS_OUTBOX_ERR_MALFORMED_MESSAGE',
  ALREADY_STARTED: 'ANNALS_OUTBOX_ERR_ALREADY_STARTED',
  REDRIVE_FAILED: 'ANNALS_OUTBOX_ERR_REDRIVE_FAILED',
} as const

/** Union of the codes in {@link OutboxErrorCodes}. */
export type OutboxErrorCode = (typeof OutboxErrorCodes)[keyof typeof OutboxErrorCodes]

/** An option given to a relay, publisher or consumer is out of range. */
export class OutboxInvalidOptionError extends AnnalsError<'ANNALS_OUTBOX_ERR_INVALID_OPTION'> {
  declare readonly option: string
  constructor(option: string, message: string, options?: { cause?: unknown }) {
    super(OutboxErrorCodes.INVALID_OPTION, `Invalid option ${option}: ${message}`, { ...options, fields: { option } })
  }
}

/** A publication map is malformed, or one of its mappings produced an unusable message. */
export class InvalidPublicationError extends AnnalsError<'ANNALS_OUTBOX_ERR_INVALID_PUBLICATION'> {
  declare readonly eventType: string
  constructor(eventType: string, message: string, options?: { cause?: unknown }) {
    super(OutboxErrorCodes.INVALID_PUBLICATION, `Publication of "${eventType}": ${message}`, {
      ...options,
      fields: { eventType },
    })
  }
}

/** Creating or upgrading the outbox tables failed. `cause` holds the database error. */
export class OutboxMigrationError extends AnnalsError<'ANNALS_OUTBOX_ERR_MIGRATION'> {
  declare readonly migration: string | undefined
  constructor(message: string, migration: string | undefined, options?: { cause?: unknown }) {
    super(OutboxErrorCodes.MIGRATION, message, { ...options, fields: { migration } })
  }
}

/** The broker refused (or failed to acknowledge) some messages of a batch. */
export class PublishFailedError extends AnnalsError<'ANNALS_OUTBOX_ERR_PUBLISH_FAILED'> {
  /** Message ids the broker did not acknowledge. */
  declare readonly messageIds: readonly string[]
  constructor(messageIds: readonly string[], message: string, options?: { cause?: unknown }) {
    super(OutboxErrorCodes.PUBLISH_FAILED, message, { ...options, fields: { messageIds } })
  }
}

/** The publisher did not acknowledge a batch in time; the relay treats it as a failed attempt. */
export class PublishTimeoutError extends AnnalsError<'ANNALS_OUTBOX_ERR_PUBLISH_TIMEOUT'> {
  declare readonly timeoutMs: number
  constructor(timeoutMs: number) {
    super(OutboxErrorCodes.PUBLISH_TIMEOUT, `The publisher did not acknowledge within ${timeoutMs} ms`, {
      fields: { timeoutMs },
    })
  }
}

/** A stream entry read by a consumer lacks the fields the Redis Streams publisher writes. */
export class MalformedMessageError extends AnnalsError<'ANNALS_OUTBOX_ERR_MALFORMED_MESSAGE'> {
  declare readonly entryId: string
  constructor(entryId: string, message: string, options?: { cause?: unknown }) {
    super(OutboxErrorCodes.MALFORMED_MESSAGE, `Stream entry ${entryId}: ${message}`, {
      ...options,
      fields: { entryId },
    })
  }
}

/** `start()` was called on a relay or consumer that is already running. */
export class OutboxAlreadyStartedError extends AnnalsError<'ANNALS_OUTBOX_ERR_ALREADY_STARTED'> {
  constructor(what: string) {
    super(OutboxErrorCodes.ALREADY_STARTED, `${what} is already running: call stop() first`)
  }
}

/** Redis refused to move some dead letters back to their stream; they stay dead-lettered. `cause` holds the first refusal. */
export class RedriveFailedError extends AnnalsError<'ANNALS_OUTBOX_ERR_REDRIVE_FAILED'> {
  /** Dead letters moved before and beside the failed ones. */
  declare readonly redriven: number
  /** Ids of the dead letters that were not moved. */
  declare readonly failedIds: readonly string[]
  constructor(redriven: number, failedIds: readonly string[], options?: { cause?: unknown }) {
    super(
      OutboxErrorCodes.REDRIVE_FAILED,
      `Redis refused to redrive ${failedIds.length} dead letter(s) (${redriven} redriven): ${String(options?.cause)}`,
      { ...options, fields: { redriven, failedIds } },
    )
  }
}

/** True when `error` is a {@link PublishFailedError}. Works across package copies. */
export function isPublishFailedError(error: unknown): error is PublishFailedError {
  return isAnnalsError(error, OutboxErrorCodes.PUBLISH_FAILED)
}
