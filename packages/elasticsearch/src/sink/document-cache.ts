import type { StoredDocument } from '../batch-writer.js'

/**
 * @internal Per index, the documents as this sink last wrote them (accepted by the engine), oldest
 * first, at most `size` per index: `update` then reads its own writes without a round trip.
 */
export type DocumentCache<Doc> = Readonly<{
  get(index: string, id: string): StoredDocument<Doc> | undefined
  /** `null` forgets the document (the engine may hold something newer than this sink wrote). */
  remember(index: string, id: string, value: StoredDocument<Doc> | null): void
  /** Forgets a whole index: someone else may have written there. */
  forget(index: string): void
}>

/** @internal A {@link DocumentCache}; size 0 remembers nothing. */
export function createDocumentCache<Doc>(size: number): DocumentCache<Doc> {
  const caches = new Map<string, Map<string, StoredDocument<Doc>>>()
  return {
    get: (index, id) => caches.get(index)?.get(id),
    remember(index, id, value) {
      if (size === 0) return
      let cache = caches.get(index)
      if (!cache) {
        cache = new Map()
        caches.set(index, cache)
      }
      // Delete first so a rewritten document moves to the young end of the insertion order.
      cache.delete(id)
      if (value === null) return
      cache.set(id, value)
      if (cache.size > size) {
        const oldest = cache.keys().next()
        if (!oldest.done) cache.delete(oldest.value)
      }
    },
    forget(index) {
      caches.delete(index)
    },
  }
}
