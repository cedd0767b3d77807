// The outbox's tables are named by their owner, @annals/store-postgres/outbox (one identifier rule for
// every package). These aliases keep the relay, admin and handler modules compiling until they import
// from there directly.
import type { TableLocation } from '@annals/store-postgres/sql'

export { type OutboxTables, outboxTables as resolveTables } from '@annals/store-postgres/outbox'

/** Options naming where the outbox tables live: schema (default `annals`) and table prefix (default none). */
export type OutboxTableOptions = TableLocation
