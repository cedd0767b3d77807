import {
  createInMemoryEventStore,
  createInMemoryIdempotencyStore,
  createInMemorySnapshotStore,
} from '@annals/core/testing'
import { createAccountService } from '../src/accounts/account-service.js'
import { buildApp } from '../src/http/server.js'
import { createInMemoryReadModels } from '../src/read-models/in-memory-read-models.js'
import { createStreamTransfers } from '../src/transfers/stream-transfers.js'

/** The app on core's in-memory adapters (unit-level route tests). */
export async function buildInMemoryApp() {
  const store = createInMemoryEventStore()
  const snapshots = createInMemorySnapshotStore()
  const idempotency = createInMemoryIdempotencyStore()
  const accounts = createAccountService({ store, snapshots })
  const readModels = createInMemoryReadModels(store)
  const transfers = createStreamTransfers({ store, accounts })
  const app = await buildApp({
    store,
    snapshots,
    idempotency,
    accounts,
    readModel: readModels.accounts,
    search: readModels.search,
    transfers,
    mode: 'in-memory',
  })
  return { app, store, readModels }
}
