import type { EventStore, LogWatcher, SnapshotStore } from '@annals/core'
import type pg from 'pg'
import type { BenchDatabase } from './services.js'

/** Thrown when a package the workload needs has not landed (the row is then reported as n/a). */
export class NotAvailableError extends Error {
  constructor(reason: string) {
    super(reason)
    this.name = 'NotAvailableError'
  }
}

/** An Annals Postgres store on a bench database. */
export type AnnalsStores = Readonly<{
  store: EventStore
  snapshots: SnapshotStore
  pool: pg.Pool
  /** Wakes projection runners on append (LISTEN/NOTIFY), when the store offers one. */
  watcher?: LogWatcher
}>

/** Schema the bench installs Annals into (the default, as an application would). */
export const ANNALS_SCHEMA = 'annals'

/**
 * Opens `@annals/store-postgres` on `db` with its own pool of `max` connections, running the
 * migrations first when `migrate` is true.
 */
export async function openAnnals(db: BenchDatabase, max: number, migrate = true): Promise<AnnalsStores> {
  const mod = (await import('@annals/store-postgres')) as Record<string, unknown>
  if (typeof mod.createPostgresEventStore !== 'function') {
    throw new NotAvailableError('@annals/store-postgres does not export createPostgresEventStore yet')
  }
  void db
  void max
  void migrate
  throw new NotAvailableError('store-postgres wiring not written yet')
}

/**
 * {@link openAnnals}, or null when the store has not landed; then every id in `ids` is reported as
 * n/a with the reason, and the raw side of a paired workload still runs.
 */
export async function openAnnalsOrSkip(
  skip: (id: string, reason: string) => void,
  ids: readonly string[],
  open: () => Promise<AnnalsStores>,
): Promise<AnnalsStores | null> {
  try {
    return await open()
  } catch (error) {
    if (!(error instanceof NotAvailableError)) throw error
    for (const id of ids) skip(id, error.message)
    return null
  }
}
