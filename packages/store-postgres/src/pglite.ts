import type { CheckpointStore, IdempotencyStore, SnapshotStore } from '@annals/core'
import type { AppendLimits } from './event-store/append-input.js'
import type { OutboxOptions } from './event-store/outbox-rows.js'
import { createPostgresEventStore, type PostgresEventStore } from './event-store/postgres-event-store.js'
import { migrate } from './migrate.js'
import { createPostgresCheckpointStore } from './postgres-checkpoint-store.js'
import { createPostgresIdempotencyStore } from './postgres-idempotency-store.js'
import { createPostgresLogWatcher, type PostgresLogWatcher } from './postgres-log-watcher.js'
import { createPostgresSnapshotStore } from './postgres-snapshot-store.js'
import type { PgliteLike } from './sql/executor.js'

/** Options of {@link createPgliteStores}. */
export type PgliteStoresOptions = Readonly<{
  pglite: PgliteLike
  schema?: string
  tablePrefix?: string
  limits?: AppendLimits
  outbox?: OutboxOptions
  /** Snapshots kept per stream. Default 10. */
  keepSnapshots?: number | 'all'
}>

/** Every store of the package on one embedded PGlite database. */
export type PgliteStores = Readonly<{
  eventStore: PostgresEventStore
  snapshotStore: SnapshotStore
  checkpointStore: CheckpointStore
  idempotencyStore: IdempotencyStore
  watcher: PostgresLogWatcher
}>

/**
 * Migrates an embedded PGlite database and returns every store on it: zero-setup demos and tests.
 * PGlite has one connection: appends are serialised, the log fence only ever waits for the running
 * statement, LISTEN uses PGlite's in-process `listen`, and the idempotency store settles races with an
 * in-process lock (one process per database, which PGlite implies anyway).
 * @example const stores = await createPgliteStores({ pglite: new PGlite() })
 */
export async function createPgliteStores(options: PgliteStoresOptions): Promise<PgliteStores> {
  const base = { pglite: options.pglite, schema: options.schema ?? 'annals', tablePrefix: options.tablePrefix ?? '' }
  await migrate(base)
  return {
    eventStore: createPostgresEventStore({
      ...base,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.outbox ? { outbox: options.outbox } : {}),
    }),
    snapshotStore: createPostgresSnapshotStore({ ...base, keep: options.keepSnapshots ?? 10 }),
    checkpointStore: createPostgresCheckpointStore(base),
    idempotencyStore: createPostgresIdempotencyStore(base),
    watcher: createPostgresLogWatcher(base),
  }
}

/** The event store on an embedded PGlite database (already migrated with `migrate({ pglite })`). */
export function createPgliteEventStore(
  options: Readonly<{
    pglite: PgliteLike
    schema?: string
    tablePrefix?: string
    limits?: AppendLimits
    outbox?: OutboxOptions
  }>,
): PostgresEventStore {
  return createPostgresEventStore(options)
}
