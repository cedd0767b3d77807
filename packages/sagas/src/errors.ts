import { AnnalsError, isAnnalsError } from '@annals/core'

/**
 * Every error code `@annals/sagas` can raise. Codes are stable: never reused, never renamed.
 * Documented in `packages/sagas/docs/errors.md`.
 */
export const SagaErrorCodes = {
  INVALID_DEFINITION: 'ANNALS_SAGA_ERR_INVALID_DEFINITION',
  INVALID_IDENTIFIER: 'ANNALS_SAGA_ERR_INVALID_IDENTIFIER',
  INVALID_OPTION: 'ANNALS_SAGA_ERR_INVALID_OPTION',
  UNKNOWN_SAGA: 'ANNALS_SAGA_ERR_UNKNOWN_SAGA',
  SAGA_NOT_FOUND: 'ANNALS_SAGA_ERR_NOT_FOUND',
  CORRUPT_HISTORY: 'ANNALS_SAGA_ERR_CORRUPT_HISTORY',
  MIGRATION: 'ANNALS_SAGA_ERR_MIGRATION',
  ALREADY_STARTED: 'ANNALS_SAGA_ERR_ALREADY_STARTED',
} as const

/** Union of the codes in {@link SagaErrorCodes}. */
export type SagaErrorCode = (typeof SagaErrorCodes)[keyof typeof SagaErrorCodes]

/** A saga or reactor definition is malformed (name, steps, ordering of irreversible steps). */
export class InvalidSagaDefinitionError extends AnnalsError<'ANNALS_SAGA_ERR_INVALID_DEFINITION'> {
  declare readonly saga: string
  constructor(saga: string, message: string) {
    super(SagaErrorCodes.INVALID_DEFINITION, `Invalid saga definition "${saga}": ${message}`, { fields: { saga } })
  }
}

/** A configured schema name is not a plain lower-case identifier. */
export class InvalidSagaIdentifierError extends AnnalsError<'ANNALS_SAGA_ERR_INVALID_IDENTIFIER'> {
  declare readonly value: string
  constructor(what: string, value: string) {
    super(
      SagaErrorCodes.INVALID_IDENTIFIER,
      `Invalid ${what} "${value}": use lower-case letters, digits and _, starting with a letter or _, at most 48 characters`,
      { fields: { value } },
    )
  }
}

/** An option of the engine or the worker is out of range. */
export class InvalidSagaOptionError extends AnnalsError<'ANNALS_SAGA_ERR_INVALID_OPTION'> {
  declare readonly option: string
  constructor(option: string, message: string) {
    super(SagaErrorCodes.INVALID_OPTION, `Invalid option ${option}: ${message}`, { fields: { option } })
  }
}

/** A saga name was used that the engine or worker was not given. */
export class UnknownSagaError extends AnnalsError<'ANNALS_SAGA_ERR_UNKNOWN_SAGA'> {
  declare readonly saga: string
  constructor(saga: string, known: readonly string[]) {
    super(SagaErrorCodes.UNKNOWN_SAGA, `Unknown saga "${saga}" (known: ${known.join(', ') || 'none'})`, {
      fields: { saga },
    })
  }
}

/** No instance of the saga with this id exists. */
export class SagaNotFoundError extends AnnalsError<'ANNALS_SAGA_ERR_NOT_FOUND'> {
  declare readonly saga: string
  declare readonly sagaId: string
  constructor(saga: string, sagaId: string) {
    super(SagaErrorCodes.SAGA_NOT_FOUND, `Saga "${saga}" has no instance "${sagaId}"`, { fields: { saga, sagaId } })
  }
}

/** A saga's stream does not fit its definition (steps renamed or reordered while instances were running). */
export class CorruptSagaHistoryError extends AnnalsError<'ANNALS_SAGA_ERR_CORRUPT_HISTORY'> {
  declare readonly streamId: string
  constructor(streamId: string, message: string) {
    super(SagaErrorCodes.CORRUPT_HISTORY, `Saga stream "${streamId}" does not fit its definition: ${message}`, {
      fields: { streamId },
    })
  }
}

/** Creating or upgrading the saga tables failed; `cause` holds the database error. */
export class SagaMigrationError extends AnnalsError<'ANNALS_SAGA_ERR_MIGRATION'> {
  declare readonly migration: string | undefined
  constructor(message: string, migration?: string, options?: { cause?: unknown }) {
    super(SagaErrorCodes.MIGRATION, message, { ...options, fields: { migration } })
  }
}

/** `start()` was called on a saga worker that is already running. */
export class SagaWorkerAlreadyStartedError extends AnnalsError<'ANNALS_SAGA_ERR_ALREADY_STARTED'> {
  constructor() {
    super(SagaErrorCodes.ALREADY_STARTED, 'The saga worker is already running: call start() once, or stop() first')
  }
}

/** True when `error` is a {@link SagaNotFoundError} (works across package copies). */
export function isSagaNotFoundError(error: unknown): error is SagaNotFoundError {
  return isAnnalsError(error, SagaErrorCodes.SAGA_NOT_FOUND)
}

/** True when `error` is a {@link CorruptSagaHistoryError} (works across package copies). */
export function isCorruptSagaHistoryError(error: unknown): error is CorruptSagaHistoryError {
  return isAnnalsError(error, SagaErrorCodes.CORRUPT_HISTORY)
}
