import { tableNames } from '@annals/test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { migrate } from '../src/migrate.js'
import { createTestDatabase, type TestDatabase } from '../src/testing/test-database.js'
import { legacyMigrate } from './fixtures/legacy-migrate.js'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase('annals_pg')
})
afterAll(async () => {
  await db?.drop()
})

describe('migrate', () => {
  it('creates every table in the configured schema with the prefix; re-running applies nothing', async () => {
    const first = await migrate({ pool: db.pool, schema: 'mig_a', tablePrefix: 'x_' })
    expect(first.applied).toEqual(['0001-init', '0002-idempotency-claims', '0003-tenancy', '0004-data-keys'])
    expect(await tableNames(db.pool, 'mig_a')).toEqual([
      'x_annals_migrations',
      'x_checkpoints',
      'x_data_keys',
      'x_events',
      'x_idempotency_keys',
      'x_snapshots',
      'x_streams',
    ])
    const again = await migrate({ pool: db.pool, schema: 'mig_a', tablePrefix: 'x_' })
    expect(again.applied).toEqual([])
  })

  it('runs concurrently without failing (advisory lock)', async () => {
    const results = await Promise.all([1, 2, 3].map(() => migrate({ pool: db.pool, schema: 'mig_b' })))
    expect(results.flatMap((r) => r.applied)).toEqual([
      '0001-init',
      '0002-idempotency-claims',
      '0003-tenancy',
      '0004-data-keys',
    ])
  })

  it('applies nothing again on a database migrated by release 0.1, whose ledger it keeps', async () => {
    expect(await legacyMigrate(db.pool, 'mig_old', 'o_')).toEqual([
      '0001-init',
      '0002-idempotency-claims',
      '0003-tenancy',
      '0004-data-keys',
    ])
    // Release 0.1's append function had two arguments fewer, 0.2's one (no p_partial); migrate replaces
    // them instead of adding an overload.
    await db.pool.query(`CREATE FUNCTION mig_old.o_append_events(text[], bigint[], integer[], boolean[], uuid[], text[],
      integer[], text[], text[], timestamptz[], integer[], uuid[], text[], text[], text[], text[], text[])
      RETURNS void LANGUAGE sql AS ''`)
    await db.pool.query(`CREATE FUNCTION mig_old.o_append_events(text[], bigint[], integer[], boolean[], uuid[], text[],
      integer[], text[], text[], timestamptz[], integer[], uuid[], text[], text[], text[], text[], text[], boolean[])
      RETURNS void LANGUAGE sql AS ''`)
    expect((await migrate({ pool: db.pool, schema: 'mig_old', tablePrefix: 'o_' })).applied).toEqual([])
    const functions = await db.pool.query(
      `SELECT pronargs FROM pg_proc WHERE proname = 'o_append_events' AND pronamespace = 'mig_old'::regnamespace`,
    )
    expect(functions.rows).toEqual([{ pronargs: 19 }])
    const { rows } = await db.pool.query('SELECT name FROM mig_old.o_annals_migrations ORDER BY name')
    expect(rows).toEqual([
      { name: '0001-init' },
      { name: '0002-idempotency-claims' },
      { name: '0003-tenancy' },
      { name: '0004-data-keys' },
    ])
    const store = createPostgresEventStore({ pool: db.pool, schema: 'mig_old', tablePrefix: 'o_' })
    const [result] = await store.appendToStreams([{ streamId: 's-1', events: [{ type: 'Opened', data: {} }] }])
    expect(result?.nextExpectedVersion).toBe(1n)
  })

  it.each(['Bank', `Bank_${'x'.repeat(58)}`])('accepts mixed case and 63 bytes: schema %s', async (schema) => {
    expect((await migrate({ pool: db.pool, schema })).applied).toEqual([
      '0001-init',
      '0002-idempotency-claims',
      '0003-tenancy',
      '0004-data-keys',
    ])
    const store = createPostgresEventStore({ pool: db.pool, schema })
    await store.appendToStream('s-1', [{ type: 'Opened', data: {} }])
    expect((await store.readStream('s-1')).currentVersion).toBe(1n)
  })

  it('rejects an unsafe schema name before touching the database', async () => {
    await expect(migrate({ pool: db.pool, schema: 'x"; DROP SCHEMA public; --' })).rejects.toMatchObject({
      code: 'ANNALS_PG_ERR_INVALID_IDENTIFIER',
    })
    await expect(migrate({ pool: db.pool, schema: 'ok', tablePrefix: 'bad prefix' })).rejects.toMatchObject({
      code: 'ANNALS_PG_ERR_INVALID_IDENTIFIER',
    })
  })
})
