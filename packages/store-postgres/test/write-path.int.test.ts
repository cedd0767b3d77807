import { randomUUID } from 'node:crypto'
import { isAnnalsError, isConcurrencyError } from '@annals/core'
import pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import { createPostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { createPostgresLogWatcher } from '../src/postgres-log-watcher.js'
import { useStoreTestbed } from './fixtures/store-testbed.js'

const schema = 'wp'
const bed = useStoreTestbed({ schema, poolSize: 24 })

beforeAll(async () => {
  // The outbox table as the outbox package creates it (the store only writes into it).
  await bed.db.pool.query(`CREATE TABLE ${schema}.outbox (message_id uuid NOT NULL, topic text NOT NULL,
    partition_key text NOT NULL, type text NOT NULL, payload jsonb NOT NULL, headers jsonb NOT NULL,
    event_id uuid, event_position bigint, id bigint GENERATED ALWAYS AS IDENTITY)`)
})

/** Holds the stream's row lock in an open transaction, as a writer between its UPDATE and COMMIT does. */
async function holdStreamLock(streamId: string): Promise<{ release: () => Promise<void> }> {
  const client = await bed.db.pool.connect()
  await client.query('BEGIN')
  await client.query(`SELECT 1 FROM ${schema}.streams WHERE stream_id = $1 FOR UPDATE`, [streamId])
  return {
    async release() {
      await client.query('ROLLBACK')
      client.release()
    },
  }
}

/** Counts the statements node-postgres sends while `fn` runs. */
async function statementsOf(fn: () => Promise<unknown>): Promise<string[]> {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }
  const original = proto.query
  const sent: string[] = []
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0] as string | { text: string }
    sent.push(typeof first === 'string' ? first : first.text)
    return original.apply(this, args)
  }
  try {
    await fn()
  } finally {
    proto.query = original
  }
  return sent
}

describe('hot streams fail fast', () => {
  it('refuses a stale expected version at once while another writer holds the stream (fast path)', async () => {
    const id = `ff-${randomUUID()}`
    await bed.store.appendToStream(id, [
      { type: 'A', data: {} },
      { type: 'B', data: {} },
    ])
    const lock = await holdStreamLock(id)
    try {
      const started = performance.now()
      const error = await bed.store
        .appendToStream(id, [{ type: 'C', data: {} }], { expectedVersion: 1n })
        .catch((e: unknown) => e)
      // Without the check against the committed version this waits until the lock is released.
      expect(performance.now() - started).toBeLessThan(2_000)
      expect(isConcurrencyError(error)).toBe(true)
      expect(error).toMatchObject({ expected: 1n, actual: 2n })
    } finally {
      await lock.release()
    }
  })

  it('refuses a stale expected version at once in the append function too (an append with outbox rows)', async () => {
    const store = createPostgresEventStore({
      pool: bed.db.pool,
      schema,
      outbox: { publish: (e) => [{ topic: 't', payload: e.data }] },
    })
    const id = `ff-fn-${randomUUID()}`
    await store.appendToStream(id, [{ type: 'A', data: {} }])
    const lock = await holdStreamLock(id)
    try {
      const started = performance.now()
      const error = await store
        .appendToStream(id, [{ type: 'B', data: {} }], { expectedVersion: 'no-stream' })
        .catch((e) => e)
      expect(performance.now() - started).toBeLessThan(2_000)
      expect(error).toMatchObject({ code: 'ANNALS_ERR_CONCURRENCY', expected: 'no-stream', actual: 1n })
    } finally {
      await lock.release()
    }
  })

  it('still waits for a writer that holds the expected version, and succeeds if it rolls back', async () => {
    const id = `ff-wait-${randomUUID()}`
    await bed.store.appendToStream(id, [{ type: 'A', data: {} }])
    const lock = await holdStreamLock(id)
    const pending = bed.store.appendToStream(id, [{ type: 'B', data: {} }], { expectedVersion: 1n })
    await new Promise((resolve) => setTimeout(resolve, 200))
    await lock.release()
    expect((await pending).nextExpectedVersion).toBe(2n)
  })

  it('reports a re-send as a duplicate before judging its (now stale) expected version', async () => {
    const id = `ff-dup-${randomUUID()}`
    const events = [{ type: 'A', data: {}, eventId: randomUUID() }]
    await bed.store.appendToStream(id, events, { expectedVersion: 'no-stream' })
    const again = await bed.store.appendToStream(id, events, { expectedVersion: 'no-stream' })
    expect(again).toMatchObject({ duplicate: true, nextExpectedVersion: 1n })
  })
})

/** Runs `body` with a log watcher on the test's schema, counting its wake-ups. */
async function withWakeCounter(body: (woken: () => number) => Promise<void>): Promise<void> {
  const watcher = createPostgresLogWatcher({ pool: bed.db.pool, schema })
  await watcher.ready()
  let woken = 0
  const off = watcher.onWake(() => woken++)
  try {
    await body(() => woken)
  } finally {
    off()
    await watcher.close()
  }
}

describe('one round trip per append', () => {
  it('sends the append, its commit and the wake-up in one message, and the watcher wakes', async () => {
    await withWakeCounter(async (woken) => {
      const id = `rt-${randomUUID()}`
      await bed.store.appendToStream(id, [{ type: 'A', data: {} }]) // prepares the connection's statements
      for (const n of [1, 100]) {
        await new Promise((resolve) => setTimeout(resolve, 20)) // past the wake-up window
        const before = woken()
        const events = Array.from({ length: n }, () => ({ type: 'B', data: { n } }))
        const sent = await statementsOf(() => bed.store.appendToStream(id, events))
        expect(sent).toHaveLength(1)
        expect(sent[0]).toMatch(/^BEGIN; EXECUTE .*; COMMIT; SELECT pg_notify/s)
        await expect.poll(woken, { timeout: 5_000 }).toBeGreaterThan(before)
      }
    })
  })

  it('covers appends close together with one wake-up, and still wakes readers after the last of them', async () => {
    await withWakeCounter(async (woken) => {
      // Appends sent together, on connections that have prepared the statement already: "close
      // together" must not depend on how fast this machine runs a sequence of round trips (on a
      // loaded one each takes longer than the window, and every append rightly carries its own).
      const burst = 8
      const ids = Array.from({ length: burst }, () => `rt-burst-${randomUUID()}`)
      const id = ids[0] as string
      await Promise.all(ids.map((stream) => bed.store.appendToStream(stream, [{ type: 'A', data: {} }])))
      await new Promise((resolve) => setTimeout(resolve, 20))
      const sent = await statementsOf(async () => {
        await Promise.all(ids.map((stream, i) => bed.store.appendToStream(stream, [{ type: 'B', data: { i } }])))
        // The appends that carried none are owed one: it follows within the window.
        await new Promise((resolve) => setTimeout(resolve, 50))
      })
      const appends = sent.filter((text) => text.startsWith('BEGIN; EXECUTE'))
      expect(appends).toHaveLength(burst)
      const carried = appends.filter((text) => text.includes('pg_notify')).length
      const alone = sent.filter((text) => text.startsWith('SELECT pg_notify')).length
      expect(carried).toBeGreaterThanOrEqual(1)
      expect(carried + alone).toBeLessThan(burst)
      const before = woken()
      await bed.store.appendToStream(id, [{ type: 'C', data: {} }])
      await bed.store.appendToStream(id, [{ type: 'C', data: {} }])
      await expect.poll(woken, { timeout: 5_000 }).toBeGreaterThan(before)
    })
  })

  it('quotes every value: quotes, backslashes and braces in ids, types and JSON survive the literal form', async () => {
    const id = `q-'"\\{},-${randomUUID()}`
    const data = { text: `it's "quoted" \\ back\\slash {a,b} \u00e9 \ud83d\ude00`, nested: ['x', "y'"] }
    const [recorded] = (await bed.store.appendToStream(id, [{ type: `T'y"p\\e`, data, metadata: { m: "o'k" } }])).events
    const read = await bed.store.readStream(id)
    expect(read.events[0]).toMatchObject({ type: `T'y"p\\e`, data, metadata: { m: "o'k" } })
    expect(recorded?.data).toEqual(data)
  })
})

describe('group commit', () => {
  const grouped = () => createPostgresEventStore({ pool: bed.db.pool, schema, groupCommit: { maxInFlight: 1 } })

  it('shares one transaction between concurrent appends to different streams, each with its own result', async () => {
    const store = grouped()
    const ids = Array.from({ length: 12 }, () => `gc-${randomUUID()}`)
    const results = await Promise.all(
      ids.map((id, n) => store.appendToStream(id, [{ type: 'A', data: { n } }], { expectedVersion: 'no-stream' })),
    )
    results.forEach((r, n) => {
      expect(r.streamId).toBe(ids[n])
      expect(r.nextExpectedVersion).toBe(1n)
      expect(r.events[0]?.data).toEqual({ n })
    })
    // The first append leaves alone; the ones that arrived meanwhile share a transaction.
    expect(new Set(results.map((r) => r.events[0]?.transactionId)).size).toBeLessThan(ids.length)
    for (const [n, id] of ids.entries()) expect((await bed.store.readStream(id)).events[0]?.data).toEqual({ n })
  })

  it('fails only the append whose expected version is stale; its neighbours commit', async () => {
    const store = grouped()
    const stale = `gc-stale-${randomUUID()}`
    await bed.store.appendToStream(stale, [{ type: 'A', data: {} }])
    const others = Array.from({ length: 6 }, () => `gc-ok-${randomUUID()}`)
    const outcomes = await Promise.allSettled([
      ...others.map((id) => store.appendToStream(id, [{ type: 'A', data: {} }], { expectedVersion: 'no-stream' })),
      store.appendToStream(stale, [{ type: 'B', data: {} }], { expectedVersion: 'no-stream' }),
      store.appendToStream(`gc-new-${randomUUID()}`, [{ type: 'B', data: {} }], { expectedVersion: 3n }),
    ])
    const [ok, conflictOnStale, conflictOnNew] = [outcomes.slice(0, 6), outcomes[6], outcomes[7]]
    for (const o of ok) expect(o.status).toBe('fulfilled')
    expect(conflictOnStale).toMatchObject({
      status: 'rejected',
      reason: { code: 'ANNALS_ERR_CONCURRENCY', actual: 1n },
    })
    expect(conflictOnNew).toMatchObject({ status: 'rejected', reason: { code: 'ANNALS_ERR_CONCURRENCY', actual: 0n } })
    expect((await bed.store.readStream(stale)).currentVersion).toBe(1n)
    // A refused append to a stream that did not exist leaves no stream row behind.
    const { rows } = await bed.db.pool.query(`SELECT count(*)::int AS n FROM ${schema}.streams WHERE version = 0`)
    expect(rows[0]).toEqual({ n: 0 })
  })

  it('attributes a failure of the shared transaction to the append that caused it (a re-used event id)', async () => {
    const store = grouped()
    const taken = randomUUID()
    await bed.store.appendToStream(`gc-owner-${randomUUID()}`, [{ type: 'A', data: {}, eventId: taken }])
    const good = Array.from({ length: 5 }, () => `gc-good-${randomUUID()}`)
    const outcomes = await Promise.allSettled([
      ...good.map((id) => store.appendToStream(id, [{ type: 'A', data: {} }])),
      store.appendToStream(`gc-thief-${randomUUID()}`, [{ type: 'A', data: {}, eventId: taken }]),
    ])
    for (const o of outcomes.slice(0, 5)) expect(o.status).toBe('fulfilled')
    const thief = outcomes[5]
    expect(thief?.status).toBe('rejected')
    expect(isAnnalsError((thief as PromiseRejectedResult).reason, 'ANNALS_ERR_DUPLICATE_EVENT_ID')).toBe(true)
    for (const id of good) expect((await bed.store.readStream(id)).currentVersion).toBe(1n)
  })

  it('keeps per-stream order and one winner per version when grouped appends race on one stream', async () => {
    const store = grouped()
    const id = `gc-hot-${randomUUID()}`
    await store.appendToStream(id, [{ type: 'A', data: {} }])
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, n) =>
        store.appendToStream(id, [{ type: 'B', data: { n } }], { expectedVersion: 1n }),
      ),
    )
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ actual: 2n })
    const any = await Promise.all(
      Array.from({ length: 10 }, (_, n) => store.appendToStream(id, [{ type: 'C', data: { n } }])),
    )
    expect(any.map((r) => r.nextExpectedVersion).sort((a, b) => Number(a - b))).toEqual(
      Array.from({ length: 10 }, (_, i) => BigInt(i + 3)),
    )
    const read = await bed.store.readStream(id)
    expect(read.events.map((e) => e.streamVersion)).toEqual(Array.from({ length: 12 }, (_, i) => BigInt(i + 1)))
  })

  it('writes the outbox rows of each grouped append, and none of a refused one', async () => {
    const store = createPostgresEventStore({
      pool: bed.db.pool,
      schema,
      groupCommit: { maxInFlight: 1 },
      outbox: { publish: (e) => [{ topic: 'gc', payload: e.data }] },
    })
    const stale = `gc-ob-stale-${randomUUID()}`
    await bed.store.appendToStream(stale, [{ type: 'A', data: {} }])
    const ids = Array.from({ length: 4 }, () => `gc-ob-${randomUUID()}`)
    const outcomes = await Promise.allSettled([
      ...ids.map((id, n) =>
        store.appendToStream(id, [
          { type: 'A', data: { n } },
          { type: 'B', data: { n } },
        ]),
      ),
      store.appendToStream(stale, [{ type: 'B', data: { stale: true } }], { expectedVersion: 5n }),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected'])
    const { rows } = await bed.db.pool.query<{ key: string; payload: unknown; event_id: string }>(
      `SELECT partition_key AS key, payload, event_id::text FROM ${schema}.outbox WHERE topic = 'gc' ORDER BY id`,
    )
    for (const [n, id] of ids.entries()) {
      const mine = rows.filter((r) => r.key === id)
      expect(mine.map((r) => r.payload)).toEqual([{ n }, { n }])
      const stored = (await bed.store.readStream(id)).events.map((e) => e.eventId)
      expect(mine.map((r) => r.event_id)).toEqual(stored)
    }
    expect(rows.some((r) => r.key === stale)).toBe(false)
  })
})
