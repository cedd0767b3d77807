export { createInMemoryCheckpointStore } from './in-memory-checkpoint-store.js'
export {
  createInMemoryEventStore,
  createInMemoryLogWatcher,
  type InMemoryEventStore,
  type InMemoryEventStoreOptions,
} from './in-memory-event-store.js'
export { createInMemoryIdempotencyStore, type InMemoryIdempotencyStore } from './in-memory-idempotency-store.js'
export { createInMemorySnapshotStore, type InMemorySnapshotStore } from './in-memory-snapshot-store.js'
