import { InvalidArgumentError, ValidationError } from './errors.js'

/**
 * The most UTF-8 bytes of a name a store indexes: a stream id, an event type, a consumer name, an
 * idempotency key, an outbox topic. Postgres refuses index entries over ~2,700 bytes (a third of a
 * page); 1,024 leaves room for the other columns of an index and for multi-byte characters.
 */
export const MAX_NAME_BYTES = 1024

/** The largest stream version or global position (a Postgres `bigint`: 2^63 - 1). */
export const MAX_STREAM_VERSION = 2n ** 63n - 1n

/** The largest schema or state version (a Postgres `integer`: 2^31 - 1). */
export const MAX_SCHEMA_VERSION = 2 ** 31 - 1

// A transaction id is a Postgres xid8: unsigned 64 bits.
const MAX_TRANSACTION_ID = 2n ** 64n - 1n

// Times travel as ISO strings, which Postgres reads for four-digit years only.
const MIN_TIME_MS = Date.parse('0001-01-01T00:00:00.000Z')
const MAX_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z')

type Path = readonly (string | number)[]

const NUL_MESSAGE = 'contains the character U+0000, which a store cannot keep'
const SURROGATE_MESSAGE = 'contains a lone surrogate (half of a UTF-16 pair), which is not Unicode text'

// JSON.stringify writes U+0000 and lone surrogates as escapes (\u0000, \ud800); paired surrogates it
// writes as they are. An escaped backslash before "u" is user text, not an escape: count the backslashes.
const BAD_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/

function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return NUL_MESSAGE
  if (!text.isWellFormed()) return SURROGATE_MESSAGE
  return null
}

/** A string or object key, inside a value, that a store cannot keep: where it is and why. */
export type UnstorableText = Readonly<{ path: readonly (string | number)[]; message: string }>

/**
 * Finds the first string or object key in a JSON-like value (parsed JSON, a request's query) that a
 * store cannot keep: U+0000 or a lone surrogate. An edge (an HTTP route, a CLI) calls it to refuse the
 * input naming its own field, before any work starts; the stores apply the same rule on write.
 * @example const bad = findUnstorableText(request.body, ['body']) // { path: ['body', 'owner'], message: '...' }
 */
export function findUnstorableText(value: unknown, path: Path = []): UnstorableText | null {
  if (typeof value === 'string') {
    const message = textProblem(value)
    return message ? { path, message } : null
  }
  if (typeof value !== 'object' || value === null) return null
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorableText(value[i], [...path, i])
      if (found) return found
    }
    return null
  }
  for (const [key, item] of Object.entries(value)) {
    const message = textProblem(key)
    if (message) return { path: [...path, key], message: `has a key that ${message}` }
    const found = findUnstorableText(item, [...path, key])
    if (found) return found
  }
  return null
}

/**
 * Checks a name every Annals store keeps and indexes (stream id, event type, consumer,
 * key): a non-empty, well-formed string without U+0000, at most {@link MAX_NAME_BYTES} UTF-8 bytes.
 * Throws `ValidationError` naming `path`.
 */
export function checkName(value: unknown, subject: string, path: Path): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ValidationError(subject, [{ path, message: 'must be a non-empty string' }])
  }
  const message = textProblem(value)
  if (message) throw new ValidationError(subject, [{ path, message }])
  // A UTF-16 unit is at most 3 UTF-8 bytes: measure only when it could matter.
  if (value.length * 3 > MAX_NAME_BYTES) {
    const bytes = Buffer.byteLength(value, 'utf8')
    if (bytes > MAX_NAME_BYTES) {
      throw new ValidationError(subject, [
        { path, message: `is ${bytes} UTF-8 bytes long; at most ${MAX_NAME_BYTES} are allowed` },
      ])
    }
  }
  return value
}

/**
 * Serialises a JSON value a store keeps (event data and metadata, snapshot state, results),
 * refusing what is not JSON or not Unicode text: U+0000 and lone surrogates, in values and in keys.
 * Throws `ValidationError` naming the path of the offending string.
 */
export function toStoredJson(value: unknown, subject: string, path: Path): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (cause) {
    throw new ValidationError(subject, [{ path, message: `must be JSON-serialisable (${(cause as Error).message})` }])
  }
  if (text === undefined) throw new ValidationError(subject, [{ path, message: 'must be JSON-serialisable' }])
  if (text.includes('\\u') && BAD_ESCAPE.test(text)) {
    // Rare: walk the serialised form (after toJSON) to name the exact string.
    const found = findUnstorableText(JSON.parse(text), path) ?? { path, message: SURROGATE_MESSAGE }
    throw new ValidationError(subject, [found])
  }
  return text
}

/**
 * Checks a bigint a store keeps in a 64-bit column (a version, a position): `min` to
 * {@link MAX_STREAM_VERSION}. Throws `InvalidArgumentError` naming `argument`.
 */
export function checkInt64(value: unknown, argument: string, min: bigint): bigint {
  if (typeof value !== 'bigint' || value < min || value > MAX_STREAM_VERSION) {
    throw new InvalidArgumentError(argument, `must be a bigint from ${min}n to ${MAX_STREAM_VERSION}n`)
  }
  return value
}

/**
 * Checks a number a store keeps in a 32-bit column (a schema or state version): an integer
 * from `min` to {@link MAX_SCHEMA_VERSION}. Throws `InvalidArgumentError` naming `argument`.
 */
export function checkInt32(value: unknown, argument: string, min: number): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > MAX_SCHEMA_VERSION) {
    throw new InvalidArgumentError(argument, `must be an integer from ${min} to ${MAX_SCHEMA_VERSION}`)
  }
  return value as number
}

/** Checks a time a store keeps: a valid `Date` in the years 0001 to 9999 (UTC). */
export function checkTime(value: unknown, argument: string): Date {
  const ms = value instanceof Date ? value.getTime() : Number.NaN
  if (!(ms >= MIN_TIME_MS && ms <= MAX_TIME_MS)) {
    throw new InvalidArgumentError(argument, 'must be a valid Date in the years 0001 to 9999')
  }
  return value as Date
}

/** Checks a log checkpoint: a transaction id within 64 unsigned bits and a position within {@link MAX_STREAM_VERSION}. */
export function checkLogCheckpoint<C extends { transactionId: bigint; position: bigint }>(
  value: C,
  argument: string,
): C {
  const { transactionId, position } = (value ?? {}) as Partial<C>
  if (
    typeof transactionId !== 'bigint' ||
    typeof position !== 'bigint' ||
    transactionId < 0n ||
    transactionId > MAX_TRANSACTION_ID ||
    position < 0n ||
    position > MAX_STREAM_VERSION
  ) {
    throw new InvalidArgumentError(
      argument,
      `transactionId must be a bigint from 0n to ${MAX_TRANSACTION_ID}n and position one from 0n to ${MAX_STREAM_VERSION}n`,
    )
  }
  return value
}
