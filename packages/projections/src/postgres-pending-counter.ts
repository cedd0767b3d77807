import type { LogCheckpoint } from '@annals/core'
import { createPostgresEventStore } from '@annals/store-postgres'
import type { Pool } from 'pg'

/** Options of {@link createPostgresPendingCounter}. */
export type PostgresPendingCounterOptions = Readonly<{
  pool: Pool
  /** Schema of the event store. Default `annals`. */
  schema?: string
  tablePrefix?: string
  /** Count at most this many (a far-behind projection does not scan the whole log every second). Default 1,000,000. */
  cap?: number
}>

/**
 * Counts handled events after a checkpoint straight from the Postgres store's events table: pass it
 * as the runner's `countPending` for an exact `lag_events` metric.
 */
export function createPostgresPendingCounter(
  options: PostgresPendingCounterOptions,
): (after: LogCheckpoint, types: readonly string[]) => Promise<number> {
  const store = createPostgresEventStore({
    pool: options.pool,
    ...(options.schema ? { schema: options.schema } : {}),
    ...(options.tablePrefix ? { tablePrefix: options.tablePrefix } : {}),
  })
  const limit = options.cap ?? 1_000_000
  return (after, types) => store.countEvents({ after, types, limit })
}
