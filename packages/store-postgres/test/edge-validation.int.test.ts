import { randomUUID } from 'node:crypto'
import { isAnnalsError, type NewEvent } from '@annals/core'
import { waitFor } from '@annals/test-support'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isPgStoreError, type PgAppendOutcomeUnknownError } from '../src/errors.js'
import { createPostgresEventStore, type PostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { useStoreTestbed } from './fixtures/store-testbed.js'

// Edge cases of issue 19 that the port's contract does not cover (the rules of what a store keeps are
// in the contract suites, run by contract.int.test.ts). Its own cluster: one test changes
// synchronous_standby_names, a server-wide setting.
const schema = 'edge'
const bed = useStoreTestbed({ schema, throwaway: true })

const pools: pg.Pool[] = []
/** A pool of the test database whose clients survive a killed backend (the test kills them on purpose). */
function testPool(options: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: bed.db.connectionString, max: 2, ...options })
  pool.on('error', () => undefined)
  pool.on('connect', (client) => client.on('error', () => undefined))
  pools.push(pool)
  return pool
}

let store: PostgresEventStore
beforeAll(() => {
  store = createPostgresEventStore({ pool: testPool(), schema })
})
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()))
})

/** Waits until an append's backend waits on `waiting` (a wait event or its type), then terminates it. */
async function terminateAppendWaitingOn(waiting: 'Lock' | 'SyncRep'): Promise<void> {
  const pid = await waitFor(`an append waiting on ${waiting}`, async () => {
    const { rows } = await bed.db.pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND (wait_event_type = $1 OR wait_event = $1)`,
      [waiting],
    )
    return rows[0]?.pid
  })
  await bed.db.pool.query('SELECT pg_terminate_backend($1)', [pid])
}

/** Runs `work` while another connection holds the row lock of each stream, so their appends block. */
async function whileLocked<T>(streamIds: readonly string[], work: () => Promise<T>): Promise<T> {
  const locker = await bed.db.pool.connect()
  try {
    await locker.query('BEGIN')
    await locker.query(`SELECT 1 FROM ${schema}.streams WHERE stream_id = ANY ($1) FOR UPDATE`, [streamIds])
    return await work()
  } finally {
    await locker.query('ROLLBACK')
    locker.release()
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the append to fail')
    },
    (error: unknown) => error,
  )
}

async function copiesOf(eventIds: readonly string[]): Promise<number[]> {
  const { rows } = await bed.db.pool.query<{ n: string }>(
    `SELECT (SELECT count(*) FROM ${schema}.events e WHERE e.event_id = x.id)::text AS n
      FROM unnest($1::uuid[]) WITH ORDINALITY AS x(id, k) ORDER BY x.k`,
    [eventIds],
  )
  return rows.map((row) => Number(row.n))
}

const deposits = (...cents: number[]): NewEvent[] =>
  cents.map((n) => ({ type: 'Deposited', data: { cents: n }, eventId: randomUUID() }))

function expectOutcomeUnknown(error: unknown, streamId: string, eventIds: readonly string[]): void {
  expect(isPgStoreError(error, 'ANNALS_PG_ERR_APPEND_OUTCOME_UNKNOWN')).toBe(true)
  const unknown = error as PgAppendOutcomeUnknownError
  expect(unknown.streamId).toBe(streamId)
  expect(unknown.eventIds).toEqual(eventIds)
  expect(unknown.streams).toEqual([{ streamId, eventIds }])
  expect(unknown.cause).toBeInstanceOf(Error)
}

describe('an append whose connection is lost', () => {
  it('before the commit: fails with ANNALS_PG_ERR_APPEND_OUTCOME_UNKNOWN; re-sending the same ids writes them once', async () => {
    const id = `lost-before-${randomUUID()}`
    await store.appendToStream(id, [{ type: 'Opened', data: {} }])
    const events = deposits(5, 7)
    const ids = events.map((e) => e.eventId as string)
    const error = await whileLocked([id], async () => {
      const append = rejection(store.appendToStream(id, events, { expectedVersion: 1n }))
      await terminateAppendWaitingOn('Lock')
      return append
    })
    expectOutcomeUnknown(error, id, ids)
    expect(await copiesOf(ids)).toEqual([0, 0])

    const resent = await store.appendToStream(id, events, { expectedVersion: 1n })
    expect(resent).toMatchObject({ duplicate: false, nextExpectedVersion: 3n })
    expect(await copiesOf(ids)).toEqual([1, 1])
  })

  it('after the commit: the error carries the ids the store chose; re-sending with them is recognised, not written twice', async () => {
    const id = `lost-after-${randomUUID()}`
    // The COMMIT waits for a standby that never comes (a session opting in with synchronous_commit=on):
    // the commit record is written when the backend is killed, the answer never sent.
    const waitingPool = testPool({ max: 1, options: '-c synchronous_commit=on' })
    const waitingStore = createPostgresEventStore({ pool: waitingPool, schema })
    await bed.db.pool.query(`ALTER SYSTEM SET synchronous_standby_names = 'annals_nobody'`)
    let error: unknown
    try {
      await bed.db.pool.query('SELECT pg_reload_conf()')
      await waitFor('the setting to reach the session', async () => {
        const { rows } = await waitingPool.query<{ s: string }>(
          "SELECT current_setting('synchronous_standby_names') AS s",
        )
        return rows[0]?.s === 'annals_nobody'
      })
      const append = rejection(waitingStore.appendToStream(id, [{ type: 'Opened', data: { owner: 'Ada' } }]))
      await terminateAppendWaitingOn('SyncRep')
      error = await append
    } finally {
      await bed.db.pool.query('ALTER SYSTEM RESET synchronous_standby_names')
      await bed.db.pool.query('SELECT pg_reload_conf()')
    }
    const ids = (error as PgAppendOutcomeUnknownError).eventIds
    expectOutcomeUnknown(error, id, ids)
    expect(ids).toHaveLength(1)
    await waitFor('the locally committed append to be visible', async () => (await copiesOf(ids))[0] === 1)

    const resent = await store.appendToStream(id, [{ type: 'Opened', data: { owner: 'Ada' }, eventId: ids[0] }])
    expect(resent).toMatchObject({ duplicate: true, nextExpectedVersion: 1n, events: [] })
    expect(await copiesOf(ids)).toEqual([1])
    expect((await store.readStream(id)).currentVersion).toBe(1n)
  })

  it('in a group commit: every member of the group gets its own ANNALS_PG_ERR_APPEND_OUTCOME_UNKNOWN', async () => {
    const grouped = createPostgresEventStore({ pool: testPool(), schema, groupCommit: { maxInFlight: 1 } })
    const a = `group-a-${randomUUID()}`
    const b = `group-b-${randomUUID()}`
    await store.appendToStreams([
      { streamId: a, events: [{ type: 'Opened', data: {} }] },
      { streamId: b, events: [{ type: 'Opened', data: {} }] },
    ])
    const [forA, forB] = [deposits(1), deposits(2, 3)]
    const [errorA, errorB] = await whileLocked([a], async () => {
      // Called in the same tick, the two appends leave in one batch.
      const appends = [
        rejection(grouped.appendToStream(a, forA, { expectedVersion: 1n })),
        rejection(grouped.appendToStream(b, forB, { expectedVersion: 1n })),
      ]
      await terminateAppendWaitingOn('Lock')
      return Promise.all(appends)
    })
    expectOutcomeUnknown(
      errorA,
      a,
      forA.map((e) => e.eventId as string),
    )
    expectOutcomeUnknown(
      errorB,
      b,
      forB.map((e) => e.eventId as string),
    )
    const all = [...forA, ...forB].map((e) => e.eventId as string)
    expect(await copiesOf(all)).toEqual([0, 0, 0])
    await grouped.appendToStream(a, forA, { expectedVersion: 1n })
    await grouped.appendToStream(b, forB, { expectedVersion: 1n })
    expect(await copiesOf(all)).toEqual([1, 1, 1])
  })

  it('through Kysely: fails with ANNALS_PG_ERR_APPEND_OUTCOME_UNKNOWN too', async () => {
    const kysely = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: testPool() }) })
    const viaKysely = createPostgresEventStore({ db: kysely, schema })
    const id = `lost-kysely-${randomUUID()}`
    await viaKysely.appendToStream(id, [{ type: 'Opened', data: {} }])
    const events = deposits(9)
    const error = await whileLocked([id], async () => {
      const append = rejection(viaKysely.appendToStream(id, events, { expectedVersion: 1n }))
      await terminateAppendWaitingOn('Lock')
      return append
    })
    expectOutcomeUnknown(error, id, [events[0]?.eventId as string])
  })

  it('is not reported as unknown when nothing was sent (the server refused the connection)', async () => {
    const unreachable = new pg.Pool({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 2000 })
    unreachable.on('error', () => undefined)
    try {
      for (const connection of [
        { pool: unreachable },
        { db: new Kysely({ dialect: new PostgresDialect({ pool: unreachable }) }) },
      ]) {
        const error = await rejection(
          createPostgresEventStore({ ...connection, schema }).appendToStream(`refused-${randomUUID()}`, deposits(1)),
        )
        expect(isPgStoreError(error, 'ANNALS_PG_ERR_APPEND_OUTCOME_UNKNOWN')).toBe(false)
        expect((error as { code?: string }).code).toBe('ECONNREFUSED')
      }
    } finally {
      await unreachable.end()
    }
  })
})

describe('outbox messages', () => {
  it('refuses a message id that is not a UUID with ANNALS_ERR_INVALID_ARGUMENT, before any SQL', async () => {
    const publishing = createPostgresEventStore({
      pool: bed.db.pool,
      schema,
      outbox: { publish: () => [{ topic: 'accounts', messageId: 'not-a-uuid' }] },
    })
    const error = await rejection(publishing.appendToStream(`outbox-${randomUUID()}`, deposits(1)))
    expect(isAnnalsError(error, 'ANNALS_ERR_INVALID_ARGUMENT')).toBe(true)
    expect((error as Error).message).toContain('messageId')
  })
})
