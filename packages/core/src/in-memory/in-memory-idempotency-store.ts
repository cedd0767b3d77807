import { IdempotencyKeyReusedError } from '../errors.js'
import type { IdempotencyRecord, IdempotencyStore } from '../idempotency-store.js'
import { checkName, toStoredJson } from '../stored-values.js'

type Entry = { fingerprint: string; pending: Promise<unknown> | null; record: IdempotencyRecord | null }

/** The in-memory idempotency store, with a way to inspect the records. */
export interface InMemoryIdempotencyStore extends IdempotencyStore {
  get(key: string): IdempotencyRecord | null
}

/**
 * Creates an idempotency store in memory. Concurrent calls with the same key run `work` once: the
 * others wait for it. A failed `work` records nothing, so the key can be retried. Results are stored
 * as JSON, like a database would.
 */
export function createInMemoryIdempotencyStore(): InMemoryIdempotencyStore {
  const entries = new Map<string, Entry>()
  return {
    async execute<R>(
      key: string,
      fingerprint: string,
      work: () => Promise<R>,
    ): Promise<Readonly<{ result: R; replayed: boolean }>> {
      checkName(key, 'idempotency key', ['key'])
      checkName(fingerprint, 'idempotency fingerprint', ['fingerprint'])
      for (;;) {
        const entry = entries.get(key)
        if (!entry) break
        if (entry.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(key)
        if (entry.record) return { result: JSON.parse(JSON.stringify(entry.record.result)) as R, replayed: true }
        // Another call with this key is running: wait for it, then look again (it may have failed).
        await entry.pending?.catch(() => undefined)
      }
      const entry: Entry = { fingerprint, pending: null, record: null }
      entries.set(key, entry)
      const pending = work()
      entry.pending = pending
      try {
        const result = await pending
        entry.record = {
          key,
          fingerprint,
          result: JSON.parse(toStoredJson(result ?? null, 'idempotent result', [key])) as unknown,
          createdAt: new Date(),
        }
        entry.pending = null
        return { result, replayed: false }
      } catch (error) {
        entries.delete(key)
        throw error
      }
    },
    get(key: string): IdempotencyRecord | null {
      return entries.get(key)?.record ?? null
    },
  }
}
