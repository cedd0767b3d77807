export { type CheckpointStoreFactory, checkpointStoreContract } from './checkpoint-store-contract.js'
export { type DeciderSpec, type DeciderThen, type DeciderWhen, deciderSpec, given } from './decider-spec.js'
export { type ErrorCatalogue, errorCatalogueSuite } from './error-catalogue-suite.js'
export { type EventStoreFactory, eventStoreContract } from './event-store-contract.js'
export { type IdempotencyStoreFactory, idempotencyStoreContract } from './idempotency-store-contract.js'
export { createInMemoryCheckpointStore } from './in-memory-checkpoint-store.js'
export {
  createInMemoryEventStore,
  createInMemoryLogWatcher,
  type InMemoryEventStore,
  type InMemoryEventStoreOptions,
} from './in-memory-event-store.js'
export { createInMemoryIdempotencyStore, type InMemoryIdempotencyStore } from './in-memory-idempotency-store.js'
export { createInMemorySnapshotStore, type InMemorySnapshotStore } from './in-memory-snapshot-store.js'
export { type SnapshotStoreFactory, snapshotStoreContract } from './snapshot-store-contract.js'
