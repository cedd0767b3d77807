import type { EventStore, LogWatcher, SnapshotStore } from '@annals/core'
import {
  createPostgresEventStore,
  createPostgresLogWatcher,
  createPostgresSnapshotStore,
  migrate as migrateStore,
  type PostgresEventStoreOptions,
} from '@annals/store-postgres'
import type pg from 'pg'
import { type BenchDatabase, onCleanup } from './services.js'

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
export async function openAnnals(
  db: BenchDatabase,
  max: number,
  migrate = true,
  options: Pick<PostgresEventStoreOptions, 'groupCommit'> = {},
): Promise<AnnalsStores> {
  const pool = db.pool(max)
  if (migrate) await migrateStore({ pool, schema: ANNALS_SCHEMA })
  const store = createPostgresEventStore({ pool, schema: ANNALS_SCHEMA, ...options })
  // Every snapshot is kept (default: the newest 10), so time travel starts near any target.
  const snapshots = createPostgresSnapshotStore({ pool, schema: ANNALS_SCHEMA, keep: 'all' })
  // LISTEN holds a connection of its own, outside the measured pool.
  const watcher = createPostgresLogWatcher({ pool: db.pool(1), schema: ANNALS_SCHEMA })
  onCleanup(() => watcher.close())
  await watcher.ready()
  return { store, snapshots, pool, watcher }
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
