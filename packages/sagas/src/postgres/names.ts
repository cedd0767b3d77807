import { InvalidSagaIdentifierError } from '../errors.js'

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/

/** Default schema of the saga tables (the event store's default too). */
export const DEFAULT_SAGA_SCHEMA = 'annals'

/** Throws unless `value` is a plain lower-case identifier, safe to quote into SQL. */
export function assertIdentifier(what: string, value: string): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) throw new InvalidSagaIdentifierError(what, String(value))
  return value
}

/** Double-quotes an identifier that {@link assertIdentifier} accepted. */
export function quoteIdentifier(value: string): string {
  return `"${value.replaceAll('"', '""')}"`
}

/** The quoted, schema-qualified names of the saga tables. @internal */
export type SagaTables = Readonly<{ schema: string; instances: string; migrations: string }>

/** Validates `schema` and returns the qualified table names in it. @internal */
export function sagaTables(schema: string = DEFAULT_SAGA_SCHEMA): SagaTables {
  assertIdentifier('schema', schema)
  const q = (table: string) => `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`
  return { schema, instances: q('saga_instances'), migrations: q('saga_migrations') }
}
