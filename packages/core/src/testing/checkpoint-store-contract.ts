import { randomUUID } from 'node:crypto'
import { beforeEach, describe, expect, it } from 'vitest'
import type { CheckpointStore } from '../checkpoint.js'
import { MAX_NAME_BYTES, MAX_STREAM_VERSION } from '../stored-values.js'
import { expectCode } from './expect-code.js'

/** Creates the checkpoint store under test; called before every test (it may return a shared store). */
export type CheckpointStoreFactory = () => CheckpointStore | Promise<CheckpointStore>

/** The behaviour every `CheckpointStore` must have: load/store per consumer, compare-and-set, bigints. */
export function checkpointStoreContract(name: string, factory: CheckpointStoreFactory): void {
  describe(`CheckpointStore contract: ${name}`, () => {
    let store: CheckpointStore
    let consumer: string
    beforeEach(async () => {
      store = await factory()
      consumer = `consumer-${randomUUID()}`
    })

    it('loads null for an unknown consumer and what was stored otherwise, as bigints', async () => {
      expect(await store.load(consumer)).toBeNull()
      const big = { transactionId: 9_007_199_254_740_993n, position: 2n ** 62n }
      expect(await store.store(consumer, big)).toBe(true)
      expect(await store.load(consumer)).toEqual(big)
      expect(await store.load(`${consumer}-other`)).toBeNull()
    })

    it('compare-and-sets when an expected value is given', async () => {
      const one = { transactionId: 1n, position: 10n }
      const two = { transactionId: 2n, position: 20n }
      expect(await store.store(consumer, one, null)).toBe(true)
      expect(await store.store(consumer, two, null)).toBe(false)
      expect(await store.store(consumer, two, { transactionId: 1n, position: 11n })).toBe(false)
      expect(await store.load(consumer)).toEqual(one)
      expect(await store.store(consumer, two, one)).toBe(true)
      expect(await store.load(consumer)).toEqual(two)
    })

    it('lets exactly one of two racing compare-and-sets win', async () => {
      const start = { transactionId: 1n, position: 1n }
      await store.store(consumer, start)
      const results = await Promise.all([
        store.store(consumer, { transactionId: 2n, position: 2n }, start),
        store.store(consumer, { transactionId: 3n, position: 3n }, start),
      ])
      expect(results.filter(Boolean)).toHaveLength(1)
    })
    it('refuses what a store cannot keep: lone surrogates, long names, positions beyond their columns', async () => {
      const at = { transactionId: 1n, position: 1n }
      await expectCode(store.store(`${consumer}\ud800`, at), 'ANNALS_ERR_VALIDATION')
      await expectCode(store.load(`${consumer}\ud800`), 'ANNALS_ERR_VALIDATION')
      await expectCode(store.store(consumer + 'x'.repeat(MAX_NAME_BYTES), at), 'ANNALS_ERR_VALIDATION')
      const beyond = { transactionId: 1n, position: MAX_STREAM_VERSION + 1n }
      await expectCode(store.store(consumer, beyond), 'ANNALS_ERR_INVALID_ARGUMENT')
      await expectCode(store.store(consumer, { transactionId: 2n ** 64n, position: 1n }), 'ANNALS_ERR_INVALID_ARGUMENT')
      await expectCode(store.store(consumer, at, beyond), 'ANNALS_ERR_INVALID_ARGUMENT')
      expect(await store.load(consumer)).toBeNull()
      const last = { transactionId: 2n ** 64n - 1n, position: MAX_STREAM_VERSION }
      expect(await store.store(consumer, last)).toBe(true)
      expect(await store.load(consumer)).toEqual(last)
    })
  })
}
