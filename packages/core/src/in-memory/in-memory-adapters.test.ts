import { describe, expect, it } from 'vitest'
import { createInMemoryCheckpointStore } from './in-memory-checkpoint-store.js'
import { createInMemoryEventStore } from './in-memory-event-store.js'
import { createInMemoryIdempotencyStore } from './in-memory-idempotency-store.js'

describe('in-memory event store specifics', () => {
  it('stores data as JSON would: non-serialisable data is rejected, as the Postgres store rejects it', async () => {
    const store = createInMemoryEventStore()
    await expect(store.appendToStream('s', [{ type: 'A', data: { big: 1n } }])).rejects.toMatchObject({
      code: 'ANNALS_ERR_VALIDATION',
    })
    await store.appendToStream('s', [{ type: 'A', data: { when: new Date(0) } }])
    expect((await store.readStream('s')).events[0]?.data).toEqual({ when: '1970-01-01T00:00:00.000Z' })
  })

  it('hands out copies: mutating a read event does not change the store', async () => {
    const store = createInMemoryEventStore()
    await store.appendToStream('s', [{ type: 'A', data: { n: 1 } }])
    const [event] = (await store.readStream('s')).events
    ;(event?.data as { n: number }).n = 99
    expect((await store.readStream('s')).events[0]?.data).toEqual({ n: 1 })
  })

  it('enforces the append size limit and rejects non-UUID event ids', async () => {
    const store = createInMemoryEventStore({ maxEventsPerAppend: 2 })
    await expect(
      store.appendToStream(
        's',
        [1, 2, 3].map(() => ({ type: 'A', data: {} })),
      ),
    ).rejects.toMatchObject({
      code: 'ANNALS_ERR_APPEND_LIMIT_EXCEEDED',
    })
    await expect(store.appendToStream('s', [{ type: 'A', data: {}, eventId: 'nope' }])).rejects.toMatchObject({
      code: 'ANNALS_ERR_INVALID_ARGUMENT',
    })
  })

  it('wakes watchers after a committed append, and not after close', async () => {
    const store = createInMemoryEventStore()
    const watcher = store.watcher()
    let wakes = 0
    watcher.onWake(() => wakes++)
    await store.appendToStream('s', [{ type: 'A', data: {} }])
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(wakes).toBe(1)
    await expect(store.appendToStream('s', [{ type: 'A', data: {} }], { expectedVersion: 0n })).rejects.toThrow()
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(wakes).toBe(1)
    await watcher.close()
    await store.appendToStream('s', [{ type: 'A', data: {} }])
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(wakes).toBe(1)
  })
})

describe('in-memory checkpoint store', () => {
  it('loads null at first, stores, and compare-and-sets', async () => {
    const store = createInMemoryCheckpointStore()
    expect(await store.load('p')).toBeNull()
    const one = { transactionId: 1n, position: 5n }
    const two = { transactionId: 2n, position: 9n }
    expect(await store.store('p', one, null)).toBe(true)
    expect(await store.store('p', two, null)).toBe(false)
    expect(await store.store('p', two, { transactionId: 1n, position: 4n })).toBe(false)
    expect(await store.store('p', two, one)).toBe(true)
    expect(await store.load('p')).toEqual(two)
    expect(await store.store('p', one)).toBe(true)
    expect(await store.load('p')).toEqual(one)
  })
})

describe('in-memory idempotency store', () => {
  it('runs work once per key and replays the JSON result', async () => {
    const store = createInMemoryIdempotencyStore()
    let runs = 0
    const work = async () => ({ n: ++runs })
    expect(await store.execute('k', 'f', work)).toEqual({ result: { n: 1 }, replayed: false })
    expect(await store.execute('k', 'f', work)).toEqual({ result: { n: 1 }, replayed: true })
    await expect(store.execute('k', 'other', work)).rejects.toMatchObject({ code: 'ANNALS_ERR_IDEMPOTENCY_KEY_REUSED' })
    expect(runs).toBe(1)
  })

  it('makes a concurrent caller wait for the running one', async () => {
    const store = createInMemoryIdempotencyStore()
    let runs = 0
    const slow = async () => {
      runs++
      await new Promise((resolve) => setTimeout(resolve, 10))
      return 'done'
    }
    const results = await Promise.all([store.execute('k', 'f', slow), store.execute('k', 'f', slow)])
    expect(runs).toBe(1)
    expect(results.map((r) => r.replayed).sort()).toEqual([false, true])
  })

  it('records nothing when work fails, so the key can be retried', async () => {
    const store = createInMemoryIdempotencyStore()
    await expect(
      store.execute('k', 'f', async () => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(store.get('k')).toBeNull()
    expect(await store.execute('k', 'f', async () => 1)).toEqual({ result: 1, replayed: false })
  })
})
