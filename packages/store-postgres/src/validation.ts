import { ValidationError } from '@annals/core'

// JSON.stringify writes U+0000 as the escape \u0000, which jsonb refuses (22P05, mid-transaction).
// An escaped backslash before "u0000" is user text, not a NUL: count the backslashes.
const NUL_ESCAPE = /(^|[^\\])(\\\\)*\\u0000/

/** Serialises a JSON value, rejecting what Postgres would refuse (U+0000) with a `ValidationError`. */
export function toJsonText(value: unknown, subject: string, path: readonly (string | number)[]): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (cause) {
    throw new ValidationError(subject, [{ path, message: `must be JSON-serialisable (${(cause as Error).message})` }])
  }
  if (text === undefined) throw new ValidationError(subject, [{ path, message: 'must be JSON-serialisable' }])
  if (text.includes('\\u0000') && NUL_ESCAPE.test(text)) {
    throw new ValidationError(subject, [
      { path, message: 'contains the character U+0000, which Postgres cannot store' },
    ])
  }
  return text
}

/** Rejects a text Postgres cannot store (U+0000) or an empty one, naming the field. */
export function checkText(value: unknown, subject: string, path: readonly (string | number)[]): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ValidationError(subject, [{ path, message: 'must be a non-empty string' }])
  }
  if (value.includes('\u0000')) {
    throw new ValidationError(subject, [
      { path, message: 'contains the character U+0000, which Postgres cannot store' },
    ])
  }
  return value
}
