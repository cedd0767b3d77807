import type { StreamId } from './event.js'
import type { ExpectedVersion } from './expected-version.js'

/**
 * Every error code `@annals/core` can raise. Codes are stable: never reused, never renamed.
 * Documented in `packages/core/docs/errors.md`.
 */
export const CoreErrorCodes = {
  CONCURRENCY: 'ANNALS_ERR_CONCURRENCY',
  STREAM_NOT_FOUND: 'ANNALS_ERR_STREAM_NOT_FOUND',
  STREAM_ALREADY_EXISTS: 'ANNALS_ERR_STREAM_ALREADY_EXISTS',
  VALIDATION: 'ANNALS_ERR_VALIDATION',
  UNKNOWN_EVENT_TYPE: 'ANNALS_ERR_UNKNOWN_EVENT_TYPE',
  UNSUPPORTED_SCHEMA_VERSION: 'ANNALS_ERR_UNSUPPORTED_SCHEMA_VERSION',
  DUPLICATE_EVENT_ID: 'ANNALS_ERR_DUPLICATE_EVENT_ID',
  IDEMPOTENCY_KEY_REUSED: 'ANNALS_ERR_IDEMPOTENCY_KEY_REUSED',
  RETRIES_EXHAUSTED: 'ANNALS_ERR_RETRIES_EXHAUSTED',
  APPEND_LIMIT_EXCEEDED: 'ANNALS_ERR_APPEND_LIMIT_EXCEEDED',
  INVALID_ARGUMENT: 'ANNALS_ERR_INVALID_ARGUMENT',
  TIME_TRAVEL_BACKWARDS: 'ANNALS_ERR_TIME_TRAVEL_BACKWARDS',
} as const

/** Union of the codes in {@link CoreErrorCodes}. */
export type CoreErrorCode = (typeof CoreErrorCodes)[keyof typeof CoreErrorCodes]

/**
 * Base class of every Annals error. Callers branch on `code`, never on the class:
 * `code` survives duplicated package copies where `instanceof` does not.
 */
export class AnnalsError<Code extends string = string> extends Error {
  readonly code: Code
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'AnnalsError'
  }
}

/** True when `error` is an Annals error, optionally of the given code. Works across package copies. */
export function isAnnalsError<Code extends string = string>(error: unknown, code?: Code): error is AnnalsError<Code> {
  if (typeof error !== 'object' || error === null) return false
  const candidate = (error as { code?: unknown }).code
  if (typeof candidate !== 'string' || !candidate.startsWith('ANNALS_')) return false
  return code === undefined || candidate === code
}

/** An append found the stream at another version than the caller expected. */
export class ConcurrencyError extends AnnalsError<'ANNALS_ERR_CONCURRENCY'> {
  readonly streamId: StreamId
  readonly expected: ExpectedVersion
  /** The stream's current version (`0n` when the stream does not exist). */
  readonly actual: bigint
  constructor(streamId: StreamId, expected: ExpectedVersion, actual: bigint, options?: { cause?: unknown }) {
    super(
      CoreErrorCodes.CONCURRENCY,
      `Stream "${streamId}" was expected at version ${String(expected)} but is at version ${actual.toString()}`,
      options,
    )
    this.name = 'ConcurrencyError'
    this.streamId = streamId
    this.expected = expected
    this.actual = actual
  }
}

/** True when `error` is a {@link ConcurrencyError}. */
export function isConcurrencyError(error: unknown): error is ConcurrencyError {
  return isAnnalsError(error, CoreErrorCodes.CONCURRENCY)
}

/** One problem found while validating input: a path into the value and a reason. */
export type ValidationIssue = Readonly<{ path: readonly (string | number)[]; message: string }>

/** Input (a command, an event payload, an argument) failed validation. Names the fields. */
export class ValidationError extends AnnalsError<'ANNALS_ERR_VALIDATION'> {
  readonly issues: readonly ValidationIssue[]
  /** What was being validated: a command type, an event type, an argument name. */
  readonly subject: string
  constructor(subject: string, issues: readonly ValidationIssue[]) {
    const detail = issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ')
    super(CoreErrorCodes.VALIDATION, `Invalid ${subject}: ${detail}`)
    this.name = 'ValidationError'
    this.subject = subject
    this.issues = issues
  }
}

/** True when `error` is a {@link ValidationError}. */
export function isValidationError(error: unknown): error is ValidationError {
  return isAnnalsError(error, CoreErrorCodes.VALIDATION)
}

/**
 * A business rule rejected a command. `decide` throws it; the code is the application's own
 * (for example `BANK_INSUFFICIENT_FUNDS`) so callers can branch on it.
 */
export class DomainError<Code extends string = string, Details = unknown> extends AnnalsError<Code> {
  readonly details: Details | undefined
  constructor(code: Code, message: string, details?: Details) {
    super(code, message)
    this.name = 'DomainError'
    this.details = details
  }
}

/** True when `error` is a {@link DomainError}, optionally with the given code. */
export function isDomainError<Code extends string = string>(error: unknown, code?: Code): error is DomainError<Code> {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'DomainError' &&
    typeof (error as { code?: unknown }).code === 'string' &&
    (code === undefined || (error as { code: string }).code === code)
  )
}
