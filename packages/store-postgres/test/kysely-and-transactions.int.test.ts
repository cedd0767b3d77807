import { eventStoreContract } from '@annals/core/testing'
import { Kysely, PostgresDialect } from 'kysely'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createPostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { migrate } from '../src/migrate.js'
import {
  createPostgresCheckpointStore,
  loadCheckpointInTransaction,
  storeCheckpointInTransaction,
} from '../src/postgres-checkpoint-store.js'
import { createTestDatabase, type TestDatabase } from '../src/testing/test-database.js'

let db: TestDatabase
let kysely: Kysely<Record<string, never>>
const schema = 'ky'

beforeAll(async () => {
  // readAll waits for every older transaction on the server: a private cluster keeps others' out.
  db = await createTestDatabase('annals_pg', { adminUrl: inject('annalsPrivatePgUrl') })
  kysely = new Kysely({ dialect: new PostgresDialect({ pool: db.pool }) })
  await migrate({ db: kysely, schema })
})
afterAll(async () => {
  // Kysely's destroy would end the pool that the test database owns.
  await db?.drop()
})

eventStoreContract('postgres through Kysely', () => createPostgresEventStore({ db: kysely, schema }))

describe('checkpoint in the caller transaction', () => {
  it('commits with the read model writes and disappears with their rollback', async () => {
    await db.pool.query('CREATE TABLE ky.balances (account text PRIMARY KEY, cents bigint NOT NULL)')
    const client = await db.pool.connect()
    const checkpoint = { transactionId: 2n ** 60n, position: 2n ** 53n + 1n }
    try {
      await client.query('BEGIN')
      await client.query(`INSERT INTO ky.balances VALUES ('a', 10)`)
      expect(
        await storeCheckpointInTransaction(client, { schema, consumer: 'balances', checkpoint, expected: null }),
      ).toBe(true)
      expect(await loadCheckpointInTransaction(client, { schema, consumer: 'balances' })).toEqual(checkpoint)
      await client.query('ROLLBACK')
      const store = createPostgresCheckpointStore({ pool: db.pool, schema })
      expect(await store.load('balances')).toBeNull()

      await client.query('BEGIN')
      await client.query(`INSERT INTO ky.balances VALUES ('a', 10)`)
      expect(
        await storeCheckpointInTransaction(client, { schema, consumer: 'balances', checkpoint, expected: null }),
      ).toBe(true)
      await client.query('COMMIT')
      expect(await store.load('balances')).toEqual(checkpoint)
      const { rows } = await db.pool.query('SELECT cents::text FROM ky.balances')
      expect(rows).toEqual([{ cents: '10' }])

      // Compare-and-set inside a transaction: a stale expected value stores nothing.
      await client.query('BEGIN')
      expect(
        await storeCheckpointInTransaction(client, {
          schema,
          consumer: 'balances',
          checkpoint: { transactionId: 1n, position: 1n },
          expected: { transactionId: 0n, position: 0n },
        }),
      ).toBe(false)
      await client.query('COMMIT')
      expect(await store.load('balances')).toEqual(checkpoint)
    } finally {
      client.release()
    }
  })
})
