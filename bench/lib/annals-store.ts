import type { EventStore, LogWatcher, SnapshotStore } from '@annals/core'
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
export async function openAnnals(db: BenchDatabase, max: number, migrate = true): Promise<AnnalsStores> {
  // Looked up at run time so the bench type-checks and runs (with n/a rows) before the store lands.
  const mod = (await import('@annals/store-postgres')) as Record<string, unknown>
  const api = mod as Partial<StoreApi>
  if (typeof api.createPostgresEventStore !== 'function') {
    throw new NotAvailableError('@annals/store-postgres does not export createPostgresEventStore yet')
  }
  if (typeof api.migrate !== 'function')
    throw new NotAvailableError('@annals/store-postgres does not export migrate yet')
  if (typeof api.createPostgresSnapshotStore !== 'function') {
    throw new NotAvailableError('@annals/store-postgres does not export createPostgresSnapshotStore yet')
  }
  const pool = db.pool(max)
  // Both spellings of the client option until the store's API settles (`db` in its migrate today).
  const opts = { pool, db: pool, schema: ANNALS_SCHEMA }
  if (migrate) await api.migrate(opts)
  const store = api.createPostgresEventStore(opts)
  const snapshots = api.createPostgresSnapshotStore(opts)
  let watcher: LogWatcher | undefined
  if (typeof api.createPostgresLogWatcher === 'function') {
    // LISTEN holds a connection of its own, outside the measured pool.
    const listen = db.pool(1)
    const w = await api.createPostgresLogWatcher({ pool: listen, db: listen, schema: ANNALS_SCHEMA })
    onCleanup(() => w.close())
    watcher = w
  }
  return { store, snapshots, pool, ...(watcher ? { watcher } : {}) }
}

type StoreOptions = { pool: pg.Pool; db: pg.Pool; schema: string }
type StoreApi = Readonly<{
  migrate(o: StoreOptions): Promise<unknown>
  createPostgresEventStore(o: StoreOptions): EventStore
  createPostgresSnapshotStore(o: StoreOptions): SnapshotStore
  createPostgresLogWatcher(o: StoreOptions): LogWatcher | Promise<LogWatcher>
}>

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
