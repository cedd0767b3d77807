import { type TableLocation, type TableNames, tableNames } from '../sql/identifiers.js'

const OUTBOX_TABLES = { outbox: 'outbox', processed: 'processed_messages' } as const

/**
 * The qualified, quoted names of the outbox's tables in one schema with one prefix, plus the ledger of
 * its migrations (`<prefix>annals_outbox_migrations`, in kysely's format since release 0.1).
 */
export type OutboxTables = TableNames<keyof typeof OUTBOX_TABLES> &
  Readonly<{
    /** The unqualified, unquoted migration ledger. */
    ledger: string
  }>

/**
 * Validates the location and names the outbox's tables: the one place that does, for the event store
 * (which writes the rows), the relay (which claims them) and the migration (which creates them).
 * @example const t = outboxTables({ schema: 'Bank' }) // t.outbox === '"Bank"."outbox"'
 */
export function outboxTables(location: TableLocation = {}): OutboxTables {
  const names = tableNames(location, OUTBOX_TABLES)
  return { ...names, ledger: names.raw('annals_outbox_migrations') }
}
