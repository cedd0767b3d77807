import { randomUUID } from 'node:crypto'
import { beforeEach, describe, expect, it } from 'vitest'
import { isAnnalsError } from '../errors.js'
import type { IdempotencyStore } from '../idempotency-store.js'
import { MAX_NAME_BYTES } from '../stored-values.js'
import { expectCode } from './expect-code.js'

/** Creates the idempotency store under test; called before every test (it may return a shared store). */
export type IdempotencyStoreFactory = () => IdempotencyStore | Promise<IdempotencyStore>

/**
 * The behaviour every `IdempotencyStore` must have: work runs at most once per key (also when two
 * callers race), the result is replayed as JSON, another fingerprint is rejected, a failure records nothing.
 */
export function idempotencyStoreContract(name: string, factory: IdempotencyStoreFactory): void {
  describe(`IdempotencyStore contract: ${name}`, () => {
    let store: IdempotencyStore
    let key: string
    beforeEach(async () => {
      store = await factory()
      key = `key-${randomUUID()}`
    })

    it('runs work once and replays its JSON result for the same key and fingerprint', async () => {
      let runs = 0
      const work = async () => ({ runs: ++runs, version: '42', nested: { list: [1, 'a', null] } })
      const first = await store.execute(key, 'fp', work)
      expect(first).toEqual({ result: { runs: 1, version: '42', nested: { list: [1, 'a', null] } }, replayed: false })
      const again = await store.execute(key, 'fp', work)
      expect(again).toEqual({ result: first.result, replayed: true })
      expect(runs).toBe(1)
    })

    it('rejects the same key with another fingerprint with ANNALS_ERR_IDEMPOTENCY_KEY_REUSED', async () => {
      await store.execute(key, 'fp-1', async () => 1)
      let ran = false
      const error = await store
        .execute(key, 'fp-2', async () => {
          ran = true
          return 2
        })
        .then(
          () => null,
          (e: unknown) => e,
        )
      expect(isAnnalsError(error, 'ANNALS_ERR_IDEMPOTENCY_KEY_REUSED')).toBe(true)
      expect(ran).toBe(false)
    })

    it('keeps keys apart', async () => {
      await store.execute(key, 'fp', async () => 'one')
      expect(await store.execute(`${key}-other`, 'fp', async () => 'two')).toEqual({ result: 'two', replayed: false })
    })

    it('runs work once when two callers race with the same key; the other gets the result', async () => {
      let runs = 0
      const slow = async () => {
        runs++
        await new Promise((resolve) => setTimeout(resolve, 50))
        return { done: true }
      }
      const results = await Promise.all([store.execute(key, 'fp', slow), store.execute(key, 'fp', slow)])
      expect(runs).toBe(1)
      expect(results.map((r) => r.replayed).sort()).toEqual([false, true])
      expect(results.map((r) => r.result)).toEqual([{ done: true }, { done: true }])
    })

    it('records nothing when work fails, so the same key can run again', async () => {
      const failed = await store
        .execute(key, 'fp', async () => {
          throw new Error('boom')
        })
        .then(
          () => null,
          (e: unknown) => e,
        )
      expect((failed as Error).message).toBe('boom')
      expect(await store.execute(key, 'fp', async () => 'second')).toEqual({ result: 'second', replayed: false })
    })
    it('refuses keys and results a store cannot keep, and frees the key of a refused result', async () => {
      const work = async () => 'done'
      await expectCode(store.execute(`${key}\ud800`, 'fp', work), 'ANNALS_ERR_VALIDATION')
      await expectCode(store.execute(key + 'x'.repeat(MAX_NAME_BYTES), 'fp', work), 'ANNALS_ERR_VALIDATION')
      await expectCode(store.execute(key, 'fp\udc00', work), 'ANNALS_ERR_VALIDATION')
      await expectCode(
        store.execute(key, 'fp', async () => ({ note: 'x\ud800' })),
        'ANNALS_ERR_VALIDATION',
      )
      expect(await store.execute(key, 'fp', work)).toEqual({ result: 'done', replayed: false })
    })
  })
}
