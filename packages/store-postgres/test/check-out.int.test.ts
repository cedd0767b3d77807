import { randomUUID } from 'node:crypto'
import { waitFor } from '@annals/test-support'
import pg from 'pg'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { PgStoreErrorCodes } from '../src/errors.js'
import { createPostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { withClient, withTransaction } from '../src/sql/transaction.js'
import { useStoreTestbed } from './fixtures/store-testbed.js'

// A connection that dies while a client is checked out (a server restart, a killed backend) makes
// node-postgres emit `error` on the client. pg-pool listens only while the client is idle, so
// without a listener of the holder's own that event is an uncaught exception: vitest reports it
// as an unhandled error and fails the run.

const schema = 'co'
const bed = useStoreTestbed({ schema })

// One client at most: the next checkout after a failure shows whether the broken one came back.
let pool: pg.Pool
beforeEach(() => {
  pool = new pg.Pool({ connectionString: bed.db.connectionString, max: 1 })
  pool.on('error', () => undefined)
})
afterEach(async () => {
  await pool.end()
})

const pidOf = async (client: pg.PoolClient | pg.Pool) =>
  Number((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid)

/** Terminates backend `pid` from another connection and waits until its socket has closed. */
async function terminate(pid: number, client?: pg.PoolClient): Promise<void> {
  // 'end' follows the `error` event on the client: by then the event had its chance to crash the process.
  const ended = client ? new Promise((resolve) => client.once('end', resolve)) : Promise.resolve()
  await bed.db.pool.query('SELECT pg_terminate_backend($1)', [pid])
  await ended
}

async function expectFreshClient(killed: number): Promise<void> {
  expect(await withClient(pool, (client) => pidOf(client))).not.toBe(killed)
  expect(pool.totalCount).toBe(1)
}

describe('a client whose connection dies while it is checked out', () => {
  it('withTransaction: the work fails with a typed error between statements, and the pool goes on', async () => {
    let killed = 0
    const outcome = withTransaction(pool, async (client) => {
      killed = await pidOf(client)
      await terminate(killed, client)
      await client.query('SELECT 1')
    })
    await expect(outcome).rejects.toMatchObject({ code: PgStoreErrorCodes.CONNECTION_LOST })
    await expectFreshClient(killed)
  })

  it('withTransaction: a backend killed during a statement fails the work, and the pool goes on', async () => {
    let killed = 0
    const outcome = withTransaction(pool, async (client) => {
      killed = await pidOf(client)
      const sleeping = client.query('SELECT pg_sleep(30)')
      // It rejects while terminate() is awaited, before `await sleeping` below handles it: without a
      // handler now, Node reports an unhandled rejection whenever the kill wins that race.
      sleeping.catch(() => undefined)
      await waitFor('the statement runs', async () => {
        const { rows } = await bed.db.pool.query(
          `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'SELECT pg_sleep%'`,
          [killed],
        )
        return rows.length > 0
      })
      await terminate(killed)
      await sleeping
    })
    await expect(outcome).rejects.toMatchObject({ code: PgStoreErrorCodes.CONNECTION_LOST })
    await expectFreshClient(killed)
  })

  it('withClient: a held client that died fails the next query instead of the process', async () => {
    let killed = 0
    const outcome = withClient(pool, async (client) => {
      killed = await pidOf(client)
      await terminate(killed, client)
      return client.query('SELECT 1')
    })
    await expect(outcome).rejects.toMatchObject({ code: PgStoreErrorCodes.CONNECTION_LOST })
    await expectFreshClient(killed)
  })

  it('the append runner: an append whose backend is killed rejects, and the next append gets a fresh connection', async () => {
    const store = createPostgresEventStore({ pool, schema })
    const streamId = `co-${randomUUID()}`
    await store.appendToStream(streamId, [{ type: 'Opened', data: {} }])
    const before = await pidOf(pool)
    // The append waits on the stream's row lock, so that it is in flight when its backend is killed.
    const holder = await bed.db.pool.connect()
    try {
      await holder.query('BEGIN')
      await holder.query(`SELECT 1 FROM ${schema}.streams WHERE stream_id = $1 FOR UPDATE`, [streamId])
      const append = store.appendToStream(streamId, [{ type: 'Deposited', data: {} }], { expectedVersion: 1n })
      append.catch(() => undefined)
      await waitFor('the append waits on the lock', async () => {
        const { rows } = await bed.db.pool.query(
          `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`,
          [before],
        )
        return rows.length > 0
      })
      await terminate(before)
      await expect(append).rejects.toThrow()
    } finally {
      await holder.query('ROLLBACK')
      holder.release()
    }
    await store.appendToStream(streamId, [{ type: 'Deposited', data: {} }], { expectedVersion: 1n })
    expect((await store.readStream(streamId)).events.map((e) => e.type)).toEqual(['Opened', 'Deposited'])
    await expectFreshClient(before)
  })
})
