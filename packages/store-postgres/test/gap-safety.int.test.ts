import type { LogCheckpoint, RecordedEvent } from '@annals/core'
import { LOG_START } from '@annals/core'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresEventStore, type PostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { migrate } from '../src/migrate.js'
import { openAppend as openAppendOn } from '../src/testing/open-append.js'
import { startThrowawayPostgres, type ThrowawayPostgres } from '../src/testing/throwaway-postgres.js'

// These tests hold transactions open. The log fence is server-wide, so they run on a private
// PostgreSQL cluster: on the shared server they would stall every other test file's log readers.
let server: ThrowawayPostgres
let pool: pg.Pool
let store: PostgresEventStore
const schema = 'gaps'

beforeAll(async () => {
  server = await startThrowawayPostgres()
  pool = new pg.Pool({ connectionString: server.connectionString, max: 8 })
  pool.on('error', () => undefined)
  await migrate({ pool, schema })
  store = createPostgresEventStore({ pool, schema })
}, 120_000)

afterAll(async () => {
  // Stop the server first: a failed test may still hold a client, which would make pool.end() wait.
  await server?.stop()
  await pool?.end().catch(() => undefined)
})

/** Reads everything visible after `from`, like a projection catching up. */
async function drain(from: LogCheckpoint): Promise<{ events: RecordedEvent[]; checkpoint: LogCheckpoint }> {
  const events: RecordedEvent[] = []
  let checkpoint = from
  for (;;) {
    const page = await store.readAll({ after: checkpoint, limit: 2 })
    events.push(...page.events)
    checkpoint = page.checkpoint
    if (page.caughtUp) return { events, checkpoint }
  }
}

/** Opens a transaction that appends through the store's own function (same SQL as an append). */
const openAppend = (streamId: string, type: string) => openAppendOn(pool, { schema }, streamId, type)

describe('global log without gaps', () => {
  it('delivers a lower-position transaction that commits after a higher one (out-of-order commit)', async () => {
    const start = (await drain(LOG_START)).checkpoint
    const a = await openAppend('ooo-a', 'A') // reserves the lower position, stays open
    await store.appendToStream('ooo-b', [{ type: 'B', data: {} }]) // higher position, committed
    const [aPos] = (await a.query(`SELECT global_position::text AS p FROM "gaps".events WHERE stream_id = 'ooo-a'`))
      .rows as { p: string }[]
    const bRead = await store.readStream('ooo-b')
    expect(BigInt(aPos?.p ?? '0')).toBeLessThan(bRead.events[0]?.globalPosition ?? 0n)

    // While A is open, the reader must not pass B (it would skip A forever).
    const during = await drain(start)
    expect(during.events.map((e) => e.type)).toEqual([])
    expect(during.checkpoint).toEqual(start)

    await a.query('COMMIT')
    a.release()
    const after = await drain(during.checkpoint)
    expect(after.events.map((e) => e.type)).toEqual(['A', 'B'])
  })

  it('passes a rolled-back hole without stalling', async () => {
    const start = (await drain(LOG_START)).checkpoint
    const hole = await openAppend('hole', 'Hole')
    await hole.query('ROLLBACK')
    hole.release()
    await store.appendToStream('after-hole', [{ type: 'AfterHole', data: {} }])
    const read = await drain(start)
    expect(read.events.map((e) => e.type)).toEqual(['AfterHole'])
    const positions = read.events.map((e) => e.globalPosition)
    // The rolled-back append consumed a position: there is a hole, and the reader went past it.
    expect(positions[0]! - start.position).toBeGreaterThan(1n)
  })

  it('waits for a long-open transaction, reports what blocks it, and catches up when it ends', async () => {
    const start = (await drain(LOG_START)).checkpoint
    const blocker = await pool.connect()
    await blocker.query("SET application_name = 'annals-test-blocker'")
    await blocker.query('BEGIN')
    await blocker.query('SELECT pg_current_xact_id()') // holds an xid: the fence cannot pass it
    await blocker.query('SELECT pg_sleep(0)')
    await store.appendToStream('late', [{ type: 'Late', data: { n: 1 } }])

    for (let i = 0; i < 3; i++) {
      const page = await store.readAll({ after: start })
      expect(page.events).toEqual([])
      expect(page.caughtUp).toBe(true)
      expect(page.checkpoint).toEqual(start)
    }
    const fence = await store.logFence()
    const holder = fence.holders[0]
    expect(holder?.applicationName).toBe('annals-test-blocker')
    expect(holder?.pid).toBe((blocker as unknown as { processID: number }).processID)
    expect(holder?.query).toContain('pg_sleep')
    expect(holder?.ageMs).toBeGreaterThanOrEqual(0)
    expect(fence.fence).toBe(holder?.transactionId)

    await blocker.query('COMMIT')
    blocker.release()
    const after = await drain(start)
    expect(after.events.map((e) => e.data)).toEqual([{ n: 1 }])
    expect((await store.logFence()).holders).toEqual([])
  })

  it('measures the head of the log past the fence: committed events held back, and the transaction holding them', async () => {
    const start = (await drain(LOG_START)).checkpoint
    const held = await openAppend('head-held', 'Held') // appended, not committed: holds the fence
    await held.query("SET application_name = 'annals-test-head'")
    await store.appendToStream('head-a', [{ type: 'Head', data: { n: 1 } }])
    await store.appendToStream('head-b', [
      { type: 'Head', data: { n: 2 } },
      { type: 'Other', data: {} },
    ])
    expect((await store.readAll({ after: start, types: ['Head'] })).events).toEqual([])
    const head = await store.logHead({ after: start, types: ['Head'] })
    expect([head.pending, head.held]).toEqual([2, 2])
    expect(head.oldestAgeMs).toBeGreaterThanOrEqual(0)
    expect(head.holder?.pid).toBe((held as unknown as { processID: number }).processID)
    expect(head.holder?.applicationName).toBe('annals-test-head')
    expect((await store.logHead({ after: start })).pending).toBe(3)
    expect((await store.logHead({ after: start, types: ['Head'], limit: 1 })).pending).toBe(1)

    await held.query('COMMIT')
    held.release()
    const after = await store.logHead({ after: start, types: ['Head', 'Held'] })
    expect([after.pending, after.held, after.holder]).toEqual([3, 0, null])
    const end = (await drain(start)).checkpoint
    expect(await store.logHead({ after: end })).toEqual({ pending: 0, held: 0, oldestAgeMs: null, holder: null })
  })
})
