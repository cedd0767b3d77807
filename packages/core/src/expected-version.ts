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

declare const numberGiven: unique symbol

/**
 * Type-level only: what an option typed `ExpectedVersion | VersionsAreBigints_Write1nNot1` says when it
 * is given a number. Versions are bigints (`1n`, `BigInt(n)`); no value has this type, so a number
 * fails to compile with this name in the message.
 */
export type VersionsAreBigints_Write1nNot1 = number & {
  readonly [numberGiven]: 'stream versions are bigints: write 1n (or BigInt(n)), not 1'
}

/**
 * Checks an expected version given at run time (JavaScript callers, parsed input) and returns it:
 * one of the named values, or a bigint from `0n` to `MAX_STREAM_VERSION`. Throws
 * `InvalidArgumentError`; for a number, the message gives the bigint to write instead.
 */
export function checkExpectedVersion(expected: unknown, argument = 'expectedVersion'): ExpectedVersion {
  if (typeof expected === 'bigint') return checkInt64(expected, argument, 0n)
  if (expected === 'any' || expected === 'no-stream' || expected === 'stream-exists') return expected
  if (typeof expected === 'number') {
    const instead = Number.isSafeInteger(expected) && expected >= 0 ? `use ${expected}n` : 'use a bigint such as 1n'
    throw new InvalidArgumentError(
      argument,
      `stream versions are bigints: ${instead}, not the number ${expected} (BigInt(n) converts one)`,
    )
  }
  throw new InvalidArgumentError(
    argument,
    `unknown value ${typeof expected === 'string' ? `"${expected}"` : String(expected)} (expected a bigint such as 1n, 'any', 'no-stream' or 'stream-exists')`,
  )
}
