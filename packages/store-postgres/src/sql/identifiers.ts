import { PgInvalidIdentifierError } from '../errors.js'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
const PREFIX = /^[A-Za-z0-9_]*$/
// Postgres truncates identifiers beyond NAMEDATALEN - 1 bytes; a silently truncated name would collide.
const MAX_BYTES = 63
/**
 * The longest name any Annals package derives from a table prefix (the outbox's processed-messages
 * index). Every package checks a prefix against this one name, so a prefix one package accepts, all
 * accept: 28 bytes at most.
 */
export const LONGEST_DERIVED_NAME = 'processed_messages_processed_at_idx'

/** The one identifier rule of Annals: letters, digits and underscores, not starting with a digit, at most 63 bytes, no `pg_`. */
export function validateSchemaName(schema: string): string {
  if (typeof schema !== 'string' || schema.length === 0) {
    throw new PgInvalidIdentifierError('schema name', String(schema), 'must be a non-empty string')
  }
  if (Buffer.byteLength(schema, 'utf8') > MAX_BYTES) {
    throw new PgInvalidIdentifierError('schema name', schema, `is longer than ${MAX_BYTES} bytes`)
  }
  if (!IDENTIFIER.test(schema)) {
    throw new PgInvalidIdentifierError(
      'schema name',
      schema,
      'use letters, digits and underscores only, starting with a letter or underscore (no quotes, semicolons or spaces)',
    )
  }
  if (schema.toLowerCase().startsWith('pg_')) {
    throw new PgInvalidIdentifierError('schema name', schema, 'names starting with pg_ are reserved by Postgres')
  }
  return schema
}

/** Validates a table prefix: letters, digits and underscores; every name Annals derives from it must fit in 63 bytes. */
export function validateTablePrefix(prefix: string): string {
  if (typeof prefix !== 'string') throw new PgInvalidIdentifierError('table prefix', String(prefix), 'must be a string')
  if (!PREFIX.test(prefix)) {
    throw new PgInvalidIdentifierError(
      'table prefix',
      prefix,
      'use letters, digits and underscores only (no quotes, semicolons or spaces)',
    )
  }
  if (Buffer.byteLength(prefix + LONGEST_DERIVED_NAME, 'utf8') > MAX_BYTES) {
    throw new PgInvalidIdentifierError(
      'table prefix',
      prefix,
      `is too long: "${prefix}${LONGEST_DERIVED_NAME}" would exceed ${MAX_BYTES} bytes`,
    )
  }
  if (prefix.length > 0 && /^[0-9]/.test(prefix)) {
    throw new PgInvalidIdentifierError('table prefix', prefix, 'must not start with a digit')
  }
  return prefix
}

/** Quotes an identifier for SQL (doubling embedded quotes, although validated names have none). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** Where a package's tables live: a schema (default `annals`) and a table prefix (default none). */
export type TableLocation = Readonly<{ schema?: string; tablePrefix?: string }>

/**
 * The validated location plus the qualified, quoted name of each table a package owns: the shape
 * every `xTables()` function of Annals returns.
 */
export type TableNames<K extends string> = Readonly<
  {
    schema: string
    tablePrefix: string
    /** The quoted schema, e.g. `"annals"`. */
    qSchema: string
    /** The quoted, prefixed name of a derived object in the schema (an index, a constraint), unqualified. */
    local(name: string): string
    /** The unquoted, prefixed name of an object (for a migration ledger or a NOTIFY channel). */
    raw(name: string): string
  } & { readonly [P in K]: string }
>

/**
 * Validates `location` and qualifies each table: `{ outbox: 'outbox' }` gives `outbox: '"annals"."outbox"'`.
 * @example const t = tableNames({ schema: 'Bank' }, { instances: 'saga_instances' }) // t.instances === '"Bank"."saga_instances"'
 */
export function tableNames<K extends string>(
  location: TableLocation | undefined,
  tables: Readonly<Record<K, string>>,
): TableNames<K> {
  const schema = validateSchemaName(location?.schema ?? 'annals')
  const tablePrefix = validateTablePrefix(location?.tablePrefix ?? '')
  const qSchema = quoteIdentifier(schema)
  const qualified = {} as Record<K, string>
  for (const key of Object.keys(tables) as K[]) {
    qualified[key] = `${qSchema}.${quoteIdentifier(tablePrefix + tables[key])}`
  }
  return {
    ...qualified,
    schema,
    tablePrefix,
    qSchema,
    local: (name: string) => quoteIdentifier(tablePrefix + name),
    raw: (name: string) => tablePrefix + name,
  } as TableNames<K>
}
