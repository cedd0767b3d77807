import { createInMemoryCheckpointStore } from '../in-memory/in-memory-checkpoint-store.js'
import { createInMemoryEventStore } from '../in-memory/in-memory-event-store.js'
import { createInMemoryIdempotencyStore } from '../in-memory/in-memory-idempotency-store.js'
import { createInMemorySnapshotStore } from '../in-memory/in-memory-snapshot-store.js'
import { checkpointStoreContract } from './checkpoint-store-contract.js'
import { eventStoreContract } from './event-store-contract.js'
import { idempotencyStoreContract } from './idempotency-store-contract.js'
import { snapshotStoreContract } from './snapshot-store-contract.js'

eventStoreContract('in-memory, one store per test', () => createInMemoryEventStore())

const shared = createInMemoryEventStore()
eventStoreContract('in-memory, one store shared by every test', () => shared)

snapshotStoreContract('in-memory', () => createInMemorySnapshotStore())

idempotencyStoreContract('in-memory', () => createInMemoryIdempotencyStore())

checkpointStoreContract('in-memory', () => createInMemoryCheckpointStore())
