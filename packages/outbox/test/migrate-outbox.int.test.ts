import { createPostgresEventStore, migrate } from '@annals/store-postgres'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import { schemaShape } from '@annals/test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrateOutbox } from '../src/migrate-outbox.js'
import { publicationMap } from '../src/publication-map.js'
import { legacyMigrateOutbox } from './fixtures/legacy-migrate-outbox.js'

let db: TestDatabase
/** The ledgers differ by design: release 0.1's kysely tables against the current migrator's. */
const shape = (schema: string) => schemaShape(db.pool, schema, '%annals_outbox_migrations%')

beforeAll(async () => {
  db = await createTestDatabase('annals_outbox_migrate')
})
afterAll(async () => {
  await db?.drop()
})

describe('migrateOutbox on a database migrated by release 0.1 (kysely Migrator)', () => {
  it.each([
    { schema: 'legacy', tablePrefix: '' },
    { schema: 'legacy_prefixed', tablePrefix: 't1_' },
  ])('applies nothing again and keeps the kysely ledger ($schema, prefix "$tablePrefix")', async (location) => {
    expect((await legacyMigrateOutbox({ pool: db.pool, ...location })).applied).toEqual(['0001-outbox'])
    // Only what came after release 0.1 is applied; 0001 is never run twice.
    expect((await migrateOutbox({ pool: db.pool, ...location })).applied).toEqual(['0002-tenancy'])
    expect((await migrateOutbox({ pool: db.pool, ...location })).applied).toEqual([])
    const ledger = await db.pool.query<{ name: string }>(
      `SELECT name FROM "${location.schema}"."${location.tablePrefix}annals_outbox_migrations"`,
    )
    expect(ledger.rows.map((r) => r.name).sort()).toEqual(['0001-outbox', '0002-tenancy'])
  })

  it('creates exactly the tables and indexes release 0.1 created, then upgrades both alike', async () => {
    await legacyMigrateOutbox({ pool: db.pool, schema: 'shape_old', tablePrefix: 'p_' })
    await migrateOutbox({ pool: db.pool, schema: 'shape_old', tablePrefix: 'p_' })
    expect((await migrateOutbox({ pool: db.pool, schema: 'shape_new', tablePrefix: 'p_' })).applied).toEqual([
      '0001-outbox',
      '0002-tenancy',
    ])
    const [old, current] = [await shape('shape_old'), await shape('shape_new')]
    expect(current.indexes).toHaveLength(8)
    expect(current).toEqual(old)
  })
})

describe('one identifier rule for the store and the outbox', () => {
  it.each(['Bank', `Bank_${'x'.repeat(58)}`])('migrates and appends with outbox rows in schema %s', async (schema) => {
    expect(Buffer.byteLength(schema)).toBeLessThanOrEqual(63)
    await migrate({ pool: db.pool, schema })
    expect((await migrateOutbox({ pool: db.pool, schema })).applied).toEqual(['0001-outbox', '0002-tenancy'])
    const store = createPostgresEventStore({
      pool: db.pool,
      schema,
      outbox: { publish: publicationMap({ Opened: { topic: 'accounts' } }) },
    })
    const { events } = await store.appendToStream('account-1', [{ type: 'Opened', data: { owner: 'ada' } }])
    const { rows } = await db.pool.query(`SELECT message_id::text, topic FROM "${schema}".outbox`)
    expect(rows).toEqual([{ message_id: events[0]?.eventId, topic: 'accounts' }])
  })

  it('rejects what the store rejects with the same typed error', async () => {
    for (const location of [{ schema: `B${'x'.repeat(63)}` }, { schema: 'pg_bank' }, { tablePrefix: 'bad-prefix' }]) {
      await expect(migrate({ pool: db.pool, ...location })).rejects.toMatchObject({
        code: 'ANNALS_PG_ERR_INVALID_IDENTIFIER',
      })
      await expect(migrateOutbox({ pool: db.pool, ...location })).rejects.toMatchObject({
        code: 'ANNALS_PG_ERR_INVALID_IDENTIFIER',
      })
    }
  })
})
