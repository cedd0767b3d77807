import { InvalidArgumentError } from './errors.js'
import { checkInt64 } from './stored-values.js'

/**
 * What an append expects of the stream. Stream versions count events from 1: a stream holding one
 * event is at version `1n`, and a stream that does not exist is at version `0n`.
 * - a bigint: exactly that version (`0n` is the same as `'no-stream'`);
 * - `'no-stream'`: the stream must not exist;
 * - `'stream-exists'`: the stream must hold at least one event;
 * - `'any'`: no check.
 */
export type ExpectedVersion = bigint | 'any' | 'no-stream' | 'stream-exists'

/** The version of a stream that holds no events. */
export const NO_STREAM_VERSION = 0n

/** True when a stream currently at `actual` satisfies `expected`. */
export function matchesExpectedVersion(expected: ExpectedVersion, actual: bigint): boolean {
  if (expected === 'any') return true
  if (expected === 'no-stream') return actual === NO_STREAM_VERSION
  if (expected === 'stream-exists') return actual > NO_STREAM_VERSION
  return expected === actual
}

/**
 * Checks an expected version: one of the named values, or a bigint from `0n` to
 * `MAX_STREAM_VERSION`. Throws `InvalidArgumentError`.
 */
export function checkExpectedVersion(expected: unknown): ExpectedVersion {
  if (typeof expected === 'bigint') return checkInt64(expected, 'expectedVersion', 0n)
  if (expected === 'any' || expected === 'no-stream' || expected === 'stream-exists') return expected
  throw new InvalidArgumentError('expectedVersion', `unknown value ${String(expected)}`)
}
