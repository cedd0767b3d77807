import {
  checkpointStoreContract,
  eventStoreContract,
  idempotencyStoreContract,
  snapshotStoreContract,
} from '@annals/core/testing'
import { PGlite } from '@electric-sql/pglite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPgliteStores, type PgliteStores } from '../src/pglite.js'

let pglite: PGlite
let stores: PgliteStores

beforeAll(async () => {
  pglite = new PGlite()
  stores = await createPgliteStores({ pglite, schema: 'lite' })
})
afterAll(async () => {
  await stores?.watcher.close()
  await pglite?.close()
})

eventStoreContract('pglite', () => stores.eventStore)
snapshotStoreContract('pglite', () => stores.snapshotStore)
checkpointStoreContract('pglite', () => stores.checkpointStore)
idempotencyStoreContract('pglite', () => stores.idempotencyStore)

describe('PGlite specifics', () => {
  it('wakes the log watcher through PGlite listen', async () => {
    await stores.watcher.ready()
    const woke = new Promise<void>((resolve) => {
      const off = stores.watcher.onWake(() => {
        off()
        resolve()
      })
    })
    await stores.eventStore.appendToStream('lite-w', [{ type: 'A', data: {} }])
    await woke
  })

  it('re-running migrate is harmless', async () => {
    const again = await createPgliteStores({ pglite, schema: 'lite' })
    await again.watcher.close()
    expect((await again.eventStore.readStream('lite-w')).currentVersion).toBe(1n)
  })
})
