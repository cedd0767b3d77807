import { InvalidIdentifierError } from './errors.js'

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,39}$/
const PREFIX = /^([a-z_][a-z0-9_]{0,39})?$/

/** Options naming where the outbox tables live. */
export type OutboxTableOptions = Readonly<{
  /** Postgres schema holding the tables. Default `annals` (the event store's default). */
  schema?: string
  /** Prepended to every table name (`<prefix>outbox`, `<prefix>processed_messages`). Default `''`. */
  tablePrefix?: string
}>

/** Quoted, validated table names of one outbox installation. @internal */
export type OutboxTables = Readonly<{
  schema: string
  tablePrefix: string
  /** `"schema"."<prefix>outbox"`, safe to splice into SQL. */
  outbox: string
  /** `"schema"."<prefix>processed_messages"`, safe to splice into SQL. */
  processed: string
  /** Unquoted names, for kysely and index names. */
  outboxName: string
  processedName: string
  migrationTable: string
  migrationLockTable: string
}>

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`
}

/** Validates schema and prefix and derives every table name from them. @internal */
export function resolveTables(options: OutboxTableOptions = {}): OutboxTables {
  const schema = options.schema ?? 'annals'
  const tablePrefix = options.tablePrefix ?? ''
  if (!IDENTIFIER.test(schema)) throw new InvalidIdentifierError('schema name', schema)
  if (!PREFIX.test(tablePrefix)) throw new InvalidIdentifierError('table prefix', tablePrefix)
  const outboxName = `${tablePrefix}outbox`
  const processedName = `${tablePrefix}processed_messages`
  return {
    schema,
    tablePrefix,
    outbox: `${quote(schema)}.${quote(outboxName)}`,
    processed: `${quote(schema)}.${quote(processedName)}`,
    outboxName,
    processedName,
    migrationTable: `${tablePrefix}annals_outbox_migrations`,
    migrationLockTable: `${tablePrefix}annals_outbox_migrations_lock`,
  }
}

/** Quotes an identifier that was validated before. @internal */
export function quoteIdentifier(identifier: string): string {
  return quote(identifier)
}
