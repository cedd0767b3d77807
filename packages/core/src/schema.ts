import type { StandardSchemaV1 } from '@standard-schema/spec'
import { AsyncSchemaError, ValidationError, type ValidationIssue } from './errors.js'

/**
 * A validator in the Standard Schema format (zod 4, valibot, arktype implement it). Core depends
 * only on this interface, never on a validator package.
 */
export type Schema<Input = unknown, Output = Input> = StandardSchemaV1<Input, Output>

/** The type a schema accepts. */
export type SchemaInput<S extends Schema> = StandardSchemaV1.InferInput<S>

/** The type a schema produces (the TypeScript type of events and commands). */
export type SchemaOutput<S extends Schema> = StandardSchemaV1.InferOutput<S>

/** Result of {@link validateSchema}: the parsed value or the issues, never both. */
export type ValidationResult<T> =
  | Readonly<{ success: true; value: T }>
  | Readonly<{ success: false; issues: readonly ValidationIssue[] }>

function toIssue(issue: StandardSchemaV1.Issue): ValidationIssue {
  const path = (issue.path ?? []).map((segment) => {
    const key = typeof segment === 'object' && segment !== null ? segment.key : segment
    return typeof key === 'number' ? key : String(key)
  })
  return { path, message: issue.message }
}

/**
 * Validates `value` synchronously. Event folding is synchronous, so an asynchronous schema is
 * rejected with `ANNALS_ERR_ASYNC_SCHEMA` rather than silently awaited.
 */
export function validateSchema<I, O>(schema: Schema<I, O>, value: unknown, subject: string): ValidationResult<O> {
  const result = schema['~standard'].validate(value)
  if (result instanceof Promise) throw new AsyncSchemaError(subject)
  if (result.issues) return { success: false, issues: result.issues.map(toIssue) }
  return { success: true, value: result.value }
}

/** Validates `value` synchronously and returns the parsed value; throws `ValidationError` naming the fields. */
export function parseSchema<I, O>(schema: Schema<I, O>, value: unknown, subject: string): O {
  const result = validateSchema(schema, value, subject)
  if (!result.success) throw new ValidationError(subject, result.issues)
  return result.value
}
