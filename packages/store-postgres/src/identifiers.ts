import { InvalidIdentifierError } from './errors.js'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
const PREFIX = /^[A-Za-z0-9_]*$/
// Postgres truncates identifiers beyond NAMEDATALEN - 1 bytes; a silently truncated name would collide.
const MAX_BYTES = 63
// The longest table name we append to a prefix ("events_stream_version_key", a constraint name) must still fit.
const LONGEST_TABLE = 'events_stream_version_key'

/** Validates a schema name: letters, digits and underscores, not starting with a digit, at most 63 bytes. */
export function validateSchemaName(schema: string): string {
  if (typeof schema !== 'string' || schema.length === 0) {
    throw new InvalidIdentifierError('schema name', String(schema), 'must be a non-empty string')
  }
  if (Buffer.byteLength(schema, 'utf8') > MAX_BYTES) {
    throw new InvalidIdentifierError('schema name', schema, `is longer than ${MAX_BYTES} bytes`)
  }
  if (!IDENTIFIER.test(schema)) {
    throw new InvalidIdentifierError(
      'schema name',
      schema,
      'use letters, digits and underscores only, starting with a letter or underscore (no quotes, semicolons or spaces)',
    )
  }
  if (schema.toLowerCase().startsWith('pg_')) {
    throw new InvalidIdentifierError('schema name', schema, 'names starting with pg_ are reserved by Postgres')
  }
  return schema
}

/** Validates a table prefix: letters, digits and underscores; prefixed table names must fit in 63 bytes. */
export function validateTablePrefix(prefix: string): string {
  if (typeof prefix !== 'string') throw new InvalidIdentifierError('table prefix', String(prefix), 'must be a string')
  if (!PREFIX.test(prefix)) {
    throw new InvalidIdentifierError(
      'table prefix',
      prefix,
      'use letters, digits and underscores only (no quotes, semicolons or spaces)',
    )
  }
  if (Buffer.byteLength(prefix + LONGEST_TABLE, 'utf8') > MAX_BYTES) {
    throw new InvalidIdentifierError(
      'table prefix',
      prefix,
      `is too long: "${prefix}${LONGEST_TABLE}" would exceed ${MAX_BYTES} bytes`,
    )
  }
  if (prefix.length > 0 && /^[0-9]/.test(prefix)) {
    throw new InvalidIdentifierError('table prefix', prefix, 'must not start with a digit')
  }
  return prefix
}

/** Quotes an identifier for SQL (doubling embedded quotes, although validated names have none). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** The qualified, quoted names of every object the store owns in one schema with one prefix. */
export type StoreNames = Readonly<{
  schema: string
  prefix: string
  /** Quoted schema, e.g. `"annals"`. */
  qSchema: string
  events: string
  streams: string
  snapshots: string
  checkpoints: string
  idempotencyKeys: string
  outbox: string
  migrations: string
  appendFunction: string
  /** The unquoted NOTIFY channel announcing appends. */
  channel: string
  /** Unqualified name of the migrations table (for the migrator). */
  migrationsTable: string
}>

/** Computes the names of the store's objects after validating `schema` and `prefix`. */
export function storeNames(schema = 'annals', prefix = ''): StoreNames {
  validateSchemaName(schema)
  validateTablePrefix(prefix)
  const qSchema = quoteIdentifier(schema)
  const q = (table: string) => `${qSchema}.${quoteIdentifier(prefix + table)}`
  let channel = `${schema}_${prefix}events`
  if (Buffer.byteLength(channel, 'utf8') > MAX_BYTES) channel = channel.slice(0, MAX_BYTES)
  return {
    schema,
    prefix,
    qSchema,
    events: q('events'),
    streams: q('streams'),
    snapshots: q('snapshots'),
    checkpoints: q('checkpoints'),
    idempotencyKeys: q('idempotency_keys'),
    outbox: q('outbox'),
    migrations: q('annals_migrations'),
    appendFunction: q('append_events'),
    channel,
    migrationsTable: `${prefix}annals_migrations`,
  }
}
