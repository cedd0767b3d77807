import {
  createInMemoryEventStore,
  createInMemoryIdempotencyStore,
  createInMemorySnapshotStore,
} from '@annals/core/testing'
import { assembleBank, type Bank } from '../src/compose.js'
import { createInMemoryReadModels } from '../src/read-models/in-memory-read-models.js'

/** A bank for a test file, with helpers. */
export type BankUnderTest = Bank & Readonly<{ projectionsIdle(): Promise<void> }>

/** Starts a bank for one test file. `name` keeps its database and key prefix apart from other files. */
export async function startBank(_name: string): Promise<BankUnderTest> {
  const store = createInMemoryEventStore()
  const models = createInMemoryReadModels(store)
  const bank = await assembleBank({
    mode: 'in-memory',
    store,
    snapshots: createInMemorySnapshotStore(),
    idempotency: createInMemoryIdempotencyStore(),
    readSide: {
      accounts: models.accounts,
      search: models.search,
      start: async () => models.start(50),
      idle: () => models.catchUp(),
      stop: () => models.stop(),
    },
  })
  await bank.readSide.start()
  return { ...bank, projectionsIdle: () => bank.readSide.idle() }
}
