import { eventStoreContract } from './event-store-contract.js'
import { createInMemoryEventStore } from './in-memory-event-store.js'
import { createInMemorySnapshotStore } from './in-memory-snapshot-store.js'
import { snapshotStoreContract } from './snapshot-store-contract.js'

eventStoreContract('in-memory, one store per test', () => createInMemoryEventStore())

const shared = createInMemoryEventStore()
eventStoreContract('in-memory, one store shared by every test', () => shared)

snapshotStoreContract('in-memory', () => createInMemorySnapshotStore())
