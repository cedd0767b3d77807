import { LOG_START } from '@annals/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresEventStore, type PostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { migrate } from '../src/migrate.js'
import { createPostgresCheckpointStore } from '../src/postgres-checkpoint-store.js'
import { createTestDatabase, type TestDatabase } from '../src/testing/test-database.js'
import { startThrowawayPostgres, type ThrowawayPostgres } from '../src/testing/throwaway-postgres.js'

// A server that has run more than 2^32 transactions: xid8 values carry an epoch, while
// pg_stat_activity still shows 32-bit xids. Positions in the log and the fence report must agree.
const EPOCH = 3n
let server: ThrowawayPostgres
let db: TestDatabase
let store: PostgresEventStore
const schema = 'epoch'

beforeAll(async () => {
  server = await startThrowawayPostgres({ xidEpoch: Number(EPOCH) })
  db = await createTestDatabase('annals_pg', { adminUrl: server.connectionString })
  await migrate({ pool: db.pool, schema })
  store = createPostgresEventStore({ pool: db.pool, schema })
})
afterAll(async () => {
  await db?.drop()
  await server?.stop()
})

describe('transaction ids beyond 2^32 (xid epoch > 0)', () => {
  it('reads the log, stores checkpoints and names the fence holder with full 64-bit ids', async () => {
    const appended = await store.appendToStream('e-1', [{ type: 'A', data: {} }])
    const transactionId = appended.events[0]?.transactionId as bigint
    expect(transactionId >> 32n).toBe(EPOCH)

    const page = await store.readAll({ after: LOG_START })
    expect(page.events.map((e) => e.transactionId)).toEqual([transactionId])
    const checkpoints = createPostgresCheckpointStore({ pool: db.pool, schema })
    await checkpoints.store('c', page.checkpoint)
    expect(await checkpoints.load('c')).toEqual(page.checkpoint)
    expect((await store.readAll({ after: page.checkpoint })).events).toEqual([])

    const blocker = await db.pool.connect()
    try {
      await blocker.query('BEGIN')
      const { rows } = await blocker.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')
      const fence = await store.logFence()
      expect(fence.fence).toBe(BigInt(rows[0]?.xid as string))
      expect(fence.holders[0]?.transactionId).toBe(fence.fence)
    } finally {
      await blocker.query('ROLLBACK')
      blocker.release()
    }
  })
})
