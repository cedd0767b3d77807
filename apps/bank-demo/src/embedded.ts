import type { EventStore } from '@annals/core'
import {
  createInMemoryEventStore,
  createInMemoryIdempotencyStore,
  createInMemorySnapshotStore,
} from '@annals/core/in-memory'
import type { BankParts, ReadSide } from './compose.js'
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

/** The zero-setup bank: core's in-memory stores and in-memory read models, nothing to install. */
export async function embeddedParts(): Promise<BankParts> {
  const store = createInMemoryEventStore()
  return {
    mode: 'embedded (in-memory event store, in-memory read models)',
    store,
    snapshots: createInMemorySnapshotStore(),
    idempotency: createInMemoryIdempotencyStore(),
    readSide: inMemoryReadSide(store),
  }
}
