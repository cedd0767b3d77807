import type { LogCheckpoint } from '@annals/core'
import { storeNames } from '@annals/store-postgres'
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
  const events = storeNames(options.schema ?? 'annals', options.tablePrefix ?? '').events
  const cap = options.cap ?? 1_000_000
  return async (after, types) => {
    const { rows } = await options.pool.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM (
         SELECT 1 FROM ${events} e
         WHERE (e.transaction_id, e.global_position) > ($1::text::xid8, $2::bigint) AND e.type = ANY($3::text[])
         LIMIT $4) x`,
      [after.transactionId.toString(), after.position.toString(), types, cap],
    )
    return Number(rows[0]?.n ?? 0)
  }
}
