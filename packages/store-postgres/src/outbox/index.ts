// @annals/store-postgres/outbox: the outbox table's one owner (names, DDL, ledger). The event store
// writes its rows; @annals/outbox migrates, relays and administers it through this module.
export { outboxMessageId } from './outbox-message-id.js'
export { outboxMigrations } from './outbox-migrations.js'
export { type OutboxTables, outboxTables } from './outbox-tables.js'
