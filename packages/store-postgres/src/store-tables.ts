import { outboxTables } from './outbox/outbox-tables.js'
import { type TableLocation, type TableNames, tableNames } from './sql/identifiers.js'

const STORE_TABLES = {
  events: 'events',
  streams: 'streams',
  snapshots: 'snapshots',
  checkpoints: 'checkpoints',
  idempotencyKeys: 'idempotency_keys',
  dataKeys: 'data_keys',
  appendFunction: 'append_events',
  migrations: 'annals_migrations',
} as const

/** The qualified, quoted names of every object the event store owns in one schema with one prefix. */
export type StoreTables = TableNames<keyof typeof STORE_TABLES> &
  Readonly<{
    /** The outbox table the append writes to (named by {@link outboxTables}, its owner). */
    outbox: string
    /** The unquoted NOTIFY channel announcing appends. */
    channel: string
  }>

const MAX_CHANNEL_BYTES = 63

/** @internal Validates the location and names the store's tables, function and channel. */
export function storeTables(location: TableLocation = {}): StoreTables {
  const names = tableNames(location, STORE_TABLES)
  let channel = `${names.schema}_${names.tablePrefix}events`
  if (Buffer.byteLength(channel, 'utf8') > MAX_CHANNEL_BYTES) channel = channel.slice(0, MAX_CHANNEL_BYTES)
  return { ...names, outbox: outboxTables(location).outbox, channel }
}
