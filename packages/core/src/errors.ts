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
  UNKNOWN_COMMAND_TYPE: 'ANNALS_ERR_UNKNOWN_COMMAND_TYPE',
  ASYNC_SCHEMA: 'ANNALS_ERR_ASYNC_SCHEMA',
  MASTER_KEY_MISMATCH: 'ANNALS_ERR_MASTER_KEY_MISMATCH',
  PERSONAL_DATA_UNREADABLE: 'ANNALS_ERR_PERSONAL_DATA_UNREADABLE',
} as const

/** Union of the codes in {@link CoreErrorCodes}. */
export type CoreErrorCode = (typeof CoreErrorCodes)[keyof typeof CoreErrorCodes]

/**
 * Base class of every Annals error. Callers branch on `code`, never on the class:
 * `code` survives duplicated package copies where `instanceof` does not.
 */
export class AnnalsError<Code extends string = string> extends Error {
  readonly code: Code
  constructor(code: Code, message: string, options?: AnnalsErrorOptions) {
    super(message, options)
    this.code = code
    // The concrete class's name, so no subclass has to repeat it for logs and stack traces to say which error it is.
    this.name = new.target.name
    // Subclasses declare these properties (`declare readonly streamId: StreamId`) and pass the values here,
    // instead of assigning each one after super().
    if (options?.fields) Object.assign(this, options.fields)
  }
}

/** What an {@link AnnalsError} is built with besides its code and message. */
export type AnnalsErrorOptions = Readonly<{
  /** The error that led to this one. */
  cause?: unknown
  /** The error's own properties (the subclass declares them), set on the instance. */
  fields?: Readonly<Record<string, unknown>>
}>

/** True when `error` is an Annals error, optionally of the given code. Works across package copies. */
export function isAnnalsError<Code extends string = string>(error: unknown, code?: Code): error is AnnalsError<Code> {
  if (typeof error !== 'object' || error === null) return false
  const candidate = (error as { code?: unknown }).code
  if (typeof candidate !== 'string' || !candidate.startsWith('ANNALS_')) return false
  return code === undefined || candidate === code
}

/** An append found the stream at another version than the caller expected. */
export class ConcurrencyError extends AnnalsError<'ANNALS_ERR_CONCURRENCY'> {
  declare readonly streamId: StreamId
  declare readonly expected: ExpectedVersion
  /** The stream's current version (`0n` when the stream does not exist). */
  declare readonly actual: bigint
  constructor(streamId: StreamId, expected: ExpectedVersion, actual: bigint, options?: { cause?: unknown }) {
    super(
      CoreErrorCodes.CONCURRENCY,
      `Stream "${streamId}" was expected at version ${String(expected)} but is at version ${actual.toString()}: ${concurrencyAdvice(expected, actual)}`,
      { ...options, fields: { streamId, expected, actual } },
    )
  }
}

// What a newcomer should do next, by what was expected: the message is often the first thing they read.
function concurrencyAdvice(expected: ExpectedVersion, actual: bigint): string {
  if (expected === 'no-stream')
    return 'the stream already exists; use another stream id, or append with its version (or go through the command handler, which loads it first)'
  if (expected === 'stream-exists' || actual === 0n)
    return 'the stream does not exist yet; append with expectedVersion "no-stream" to create it'
  return 'someone appended since you read it. Reload the stream, decide again and retry (the command handler does this for you), or report the conflict to the client that sent the version'
}

/** True when `error` is a {@link ConcurrencyError}. */
export function isConcurrencyError(error: unknown): error is ConcurrencyError {
  return isAnnalsError(error, CoreErrorCodes.CONCURRENCY)
}

/** One problem found while validating input: a path into the value and a reason. */
export type ValidationIssue = Readonly<{ path: readonly (string | number)[]; message: string }>

/** Input (a command, an event payload, an argument) failed validation. Names the fields. */
export class ValidationError extends AnnalsError<'ANNALS_ERR_VALIDATION'> {
  declare readonly issues: readonly ValidationIssue[]
  /** What was being validated: a command type, an event type, an argument name. */
  declare readonly subject: string
  constructor(subject: string, issues: readonly ValidationIssue[]) {
    const detail = issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ')
    super(CoreErrorCodes.VALIDATION, `Invalid ${subject}: ${detail}`, { fields: { subject, issues } })
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

/** A stream that had to exist does not. */
export class StreamNotFoundError extends AnnalsError<'ANNALS_ERR_STREAM_NOT_FOUND'> {
  declare readonly streamId: StreamId
  constructor(streamId: StreamId) {
    super(CoreErrorCodes.STREAM_NOT_FOUND, `Stream "${streamId}" does not exist`, { fields: { streamId } })
  }
}

/** A stream that had to be new already exists. */
export class StreamAlreadyExistsError extends AnnalsError<'ANNALS_ERR_STREAM_ALREADY_EXISTS'> {
  declare readonly streamId: StreamId
  constructor(streamId: StreamId) {
    super(CoreErrorCodes.STREAM_ALREADY_EXISTS, `Stream "${streamId}" already exists`, { fields: { streamId } })
  }
}

/**
 * Who declared an event registry's definitions, so that an unknown type's error says where to add it:
 * `{ kind: 'aggregate', name: 'account', option: 'events' }`.
 */
export type EventRegistryOwner = Readonly<{ kind: string; name: string; option: string }>

/** A stored (or decided) event has a type that no event definition of the registry knows. */
export class UnknownEventTypeError extends AnnalsError<'ANNALS_ERR_UNKNOWN_EVENT_TYPE'> {
  declare readonly eventType: string
  /** Where the event came from (stream and version), when known. */
  declare readonly location: string | undefined
  /** Who declared the definitions (the aggregate), when known. */
  declare readonly owner: EventRegistryOwner | undefined
  constructor(eventType: string, location?: string, owner?: EventRegistryOwner) {
    const where = owner
      ? `${owner.kind} "${owner.name}" does not know it: add its definition to the ${owner.kind}'s \`${owner.option}\``
      : 'add its definition to the registry'
    super(
      CoreErrorCodes.UNKNOWN_EVENT_TYPE,
      `Unknown event type "${eventType}"${location ? ` (${location})` : ''}: ${where}`,
      {
        fields: { eventType, location, owner },
      },
    )
  }
}

/** A stored event was written with a schema version this code does not know (newer, or below 1). */
export class UnsupportedSchemaVersionError extends AnnalsError<'ANNALS_ERR_UNSUPPORTED_SCHEMA_VERSION'> {
  declare readonly eventType: string
  declare readonly schemaVersion: number
  /** The newest schema version this code knows for the type. */
  declare readonly latestSchemaVersion: number
  constructor(eventType: string, schemaVersion: number, latestSchemaVersion: number, location?: string) {
    super(
      CoreErrorCodes.UNSUPPORTED_SCHEMA_VERSION,
      `Event "${eventType}" has schema version ${schemaVersion} but this code knows versions 1..${latestSchemaVersion}${
        location ? ` (${location})` : ''
      }`,
      { fields: { eventType, schemaVersion, latestSchemaVersion } },
    )
  }
}

/** A command's type is not one the aggregate declares. */
export class UnknownCommandTypeError extends AnnalsError<'ANNALS_ERR_UNKNOWN_COMMAND_TYPE'> {
  declare readonly commandType: string
  constructor(commandType: string, aggregate: string) {
    super(CoreErrorCodes.UNKNOWN_COMMAND_TYPE, `Aggregate "${aggregate}" does not handle command "${commandType}"`, {
      fields: { commandType },
    })
  }
}

/** An event id was appended before with other content, in another stream, or at another place. */
export class DuplicateEventIdError extends AnnalsError<'ANNALS_ERR_DUPLICATE_EVENT_ID'> {
  declare readonly eventId: string
  declare readonly streamId: StreamId
  constructor(eventId: string, streamId: StreamId, reason: string) {
    super(
      CoreErrorCodes.DUPLICATE_EVENT_ID,
      `Event id ${eventId} appended to "${streamId}" already exists: ${reason}`,
      { fields: { eventId, streamId } },
    )
  }
}

/** True when `error` is a {@link DuplicateEventIdError}. */
export function isDuplicateEventIdError(error: unknown): error is DuplicateEventIdError {
  return isAnnalsError(error, CoreErrorCodes.DUPLICATE_EVENT_ID)
}

/** An idempotency key arrived again with a different command than the first time. */
export class IdempotencyKeyReusedError extends AnnalsError<'ANNALS_ERR_IDEMPOTENCY_KEY_REUSED'> {
  declare readonly key: string
  constructor(key: string) {
    super(
      CoreErrorCodes.IDEMPOTENCY_KEY_REUSED,
      `Idempotency key "${key}" was already used for a different command (type or data differ)`,
      { fields: { key } },
    )
  }
}

/** The command handler met a version conflict on every attempt it was allowed. `cause` is the last conflict. */
export class RetriesExhaustedError extends AnnalsError<'ANNALS_ERR_RETRIES_EXHAUSTED'> {
  declare readonly streamId: StreamId
  declare readonly attempts: number
  constructor(streamId: StreamId, attempts: number, options?: { cause?: unknown }) {
    super(
      CoreErrorCodes.RETRIES_EXHAUSTED,
      `Gave up on stream "${streamId}" after ${attempts} attempts, each lost to a concurrent append`,
      { ...options, fields: { streamId, attempts } },
    )
  }
}

/** One append carried more events (or bytes) than the store accepts. */
export class AppendLimitExceededError extends AnnalsError<'ANNALS_ERR_APPEND_LIMIT_EXCEEDED'> {
  declare readonly limit: number
  declare readonly actual: number
  constructor(what: string, limit: number, actual: number) {
    super(CoreErrorCodes.APPEND_LIMIT_EXCEEDED, `Append exceeds the limit of ${limit} ${what} (got ${actual})`, {
      fields: { limit, actual },
    })
  }
}

/** An argument given to an Annals function is malformed (not a command or event payload: see ValidationError). */
export class InvalidArgumentError extends AnnalsError<'ANNALS_ERR_INVALID_ARGUMENT'> {
  declare readonly argument: string
  constructor(argument: string, message: string, options?: { cause?: unknown }) {
    super(CoreErrorCodes.INVALID_ARGUMENT, `Invalid ${argument}: ${message}`, { ...options, fields: { argument } })
  }
}

/** An imported event's time is before the previous event of its stream. */
export class TimeTravelBackwardsError extends AnnalsError<'ANNALS_ERR_TIME_TRAVEL_BACKWARDS'> {
  declare readonly streamId: StreamId
  declare readonly recordedAt: Date
  declare readonly previousRecordedAt: Date
  constructor(streamId: StreamId, recordedAt: Date, previousRecordedAt: Date) {
    super(
      CoreErrorCodes.TIME_TRAVEL_BACKWARDS,
      `Cannot import an event recorded at ${recordedAt.toISOString()} into "${streamId}" after one recorded at ${previousRecordedAt.toISOString()}`,
      { fields: { streamId, recordedAt, previousRecordedAt } },
    )
  }
}

/** A schema validated asynchronously where Annals needs a synchronous answer (event folding is synchronous). */
export class AsyncSchemaError extends AnnalsError<'ANNALS_ERR_ASYNC_SCHEMA'> {
  constructor(subject: string) {
    super(
      CoreErrorCodes.ASYNC_SCHEMA,
      `The schema of ${subject} validates asynchronously; Annals needs synchronous schemas`,
    )
  }
}

/**
 * A wrapped data key could not be unwrapped: the master key is not the one that wrapped it (a wrong or
 * rotated key in the environment). Raised instead of decrypting to garbage.
 */
export class MasterKeyMismatchError extends AnnalsError<'ANNALS_ERR_MASTER_KEY_MISMATCH'> {
  declare readonly masterKeyId: string
  constructor(masterKeyId: string, options?: { cause?: unknown }) {
    super(
      CoreErrorCodes.MASTER_KEY_MISMATCH,
      `A data key wrapped by master key "${masterKeyId}" does not unwrap with the master key given: wrong master key`,
      { ...options, fields: { masterKeyId } },
    )
  }
}

/** A personal field's ciphertext does not decrypt with its subject's (held) data key: it was altered. */
export class PersonalDataUnreadableError extends AnnalsError<'ANNALS_ERR_PERSONAL_DATA_UNREADABLE'> {
  declare readonly eventId: string
  constructor(eventId: string, options?: { cause?: unknown }) {
    super(
      CoreErrorCodes.PERSONAL_DATA_UNREADABLE,
      `A personal field of event ${eventId} does not decrypt with its data key (altered ciphertext)`,
      { ...options, fields: { eventId } },
    )
  }
}
