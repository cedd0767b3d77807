import type { EventStore } from '@annals/core'
import {
  createInMemoryEventStore,
  createInMemoryIdempotencyStore,
  createInMemorySnapshotStore,
} from '@annals/core/in-memory'
import { createPgliteStores } from '@annals/store-postgres'
import { PGlite } from '@electric-sql/pglite'
import type { BankParts, ReadSide } from './compose.js'
import { postgresCheck } from './health.js'
import { createInMemoryReadModels } from './read-models/in-memory-read-models.js'

/** In-memory read models over any event store, as a read side. */
export function inMemoryReadSide(store: EventStore, intervalMs = 100): ReadSide {
  const models = createInMemoryReadModels(store)
  return {
    accounts: models.accounts,
    search: models.search,
    start: async () => models.start(intervalMs),
    idle: () => models.catchUp(),
    stop: () => models.stop(),
  }
}

/**
 * The zero-setup bank: the Postgres event store on embedded PGlite (migrated in memory, or in
 * `dataDir`), with in-memory read models. Nothing to install.
 */
export async function pgliteParts(dataDir?: string): Promise<BankParts> {
  const pglite = dataDir ? new PGlite(dataDir) : new PGlite()
  const stores = await createPgliteStores({ pglite, schema: 'bank', keepSnapshots: 'all' })
  return {
    mode: 'embedded (PGlite event store, in-memory read models)',
    store: stores.eventStore,
    snapshots: stores.snapshotStore,
    idempotency: stores.idempotencyStore,
    readSide: inMemoryReadSide(stores.eventStore),
    health: [postgresCheck((sql) => pglite.query(sql), 'pglite')],
    async release() {
      await stores.watcher.close()
      await pglite.close()
    },
  }
}

/** The bank on core's in-memory stores and in-memory read models (the fastest stand-in). */
export async function embeddedParts(): Promise<BankParts> {
  const store = createInMemoryEventStore()
  return {
    mode: 'in-memory (core in-memory event store, in-memory read models)',
    store,
    snapshots: createInMemorySnapshotStore(),
    idempotency: createInMemoryIdempotencyStore(),
    readSide: inMemoryReadSide(store),
  }
}
