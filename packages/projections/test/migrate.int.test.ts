import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import { schemaShape } from '@annals/test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProjectionAdmin } from '../src/admin.js'
import { createLeaseStore } from '../src/lease.js'
import { migrateProjections } from '../src/migrate-projections.js'
import { projectionTables } from '../src/names.js'
import { createPostgresSink } from '../src/sinks/postgres-sink.js'
import { legacyMigrateProjections } from './fixtures/legacy-migrate-projections.js'

let db: TestDatabase
/** The ledgers differ by design: release 0.1's kysely tables against the current migrator's. */
const shape = (schema: string) => schemaShape(db.pool, schema, 'annals_projections_migrations%')

beforeAll(async () => {
  db = await createTestDatabase('annals_proj_migrate')
})
afterAll(async () => {
  await db?.drop()
})

let readModels = 0

/** Every migration, and those after release 0.1's. */
const ALL = ['0001-projections', '0002-lease-version', '0003-partitions']
const LATER = ALL.slice(1)

/** Takes a lease and commits one Postgres-sink batch in `schema`, then reads it back through the admin API. */
async function useTables(schema: string): Promise<void> {
  const lease = await createLeaseStore(db.pool, projectionTables(schema)).acquire('balances', 'w1', 60_000, 1)
  expect(lease?.token).toBe(1n)
  const sink = createPostgresSink({
    pool: db.pool,
    schema: `read_model_${++readModels}`,
    tables: { balances: (t) => `CREATE TABLE ${t} (id text PRIMARY KEY, total int NOT NULL)` },
  })
  const target = { projection: 'balances', generation: 1, schema }
  await sink.prepare(target)
  const checkpoint = { transactionId: 7n, position: 3n }
  const result = await sink.commit(target, {
    token: 1n,
    expected: null,
    checkpoint,
    replayIds: [],
    size: 1,
    apply: async ({ client, table }) => {
      await client.query(`INSERT INTO ${table('balances')} VALUES ('acc-1', 5)`)
    },
  })
  expect(result).toEqual({ status: 'committed' })
  expect(await sink.loadCheckpoint(target)).toEqual(checkpoint)
  const admin = createProjectionAdmin({ pool: db.pool, schema })
  expect(await admin.listDeadLetters()).toEqual([])
  expect((await admin.status()).map((s) => s.name)).toEqual([])
  await expect(admin.requestRebuild('balances')).rejects.toMatchObject({ code: 'ANNALS_PROJ_ERR_UNKNOWN_PROJECTION' })
}

describe('migrateProjections on a database migrated by release 0.1 (kysely Migrator)', () => {
  it('applies only the later migrations, keeps the kysely ledger, and the tables keep working', async () => {
    expect((await legacyMigrateProjections({ pool: db.pool, schema: 'legacy' })).applied).toEqual(['0001-projections'])
    expect((await migrateProjections({ pool: db.pool, schema: 'legacy' })).applied).toEqual(LATER)
    expect((await migrateProjections({ pool: db.pool, schema: 'legacy' })).applied).toEqual([])
    const ledger = await db.pool.query<{ name: string; timestamp: string }>(
      'SELECT name, timestamp FROM legacy.annals_projections_migrations ORDER BY name',
    )
    expect(ledger.rows.map((r) => r.name)).toEqual(ALL)
    expect(typeof ledger.rows[0]?.timestamp).toBe('string')
    await useTables('legacy')
  })

  it('creates exactly the tables and indexes of a release-0.1 database upgraded', async () => {
    await legacyMigrateProjections({ pool: db.pool, schema: 'shape_old' })
    await migrateProjections({ pool: db.pool, schema: 'shape_old' })
    expect((await migrateProjections({ pool: db.pool, schema: 'shape_new' })).applied).toEqual(ALL)
    const [old, current] = [await shape('shape_old'), await shape('shape_new')]
    // 0003-partitions: 2 registry columns, partition leases (11), partition checkpoints (6), members (5);
    // their primary keys and the token index.
    expect(current.columns).toHaveLength(65)
    expect(current.indexes).toHaveLength(10)
    expect(current).toEqual(old)
  })
})

describe('one identifier rule for the store and the projections', () => {
  it.each(['Bank', `Bank_${'x'.repeat(58)}`])('migrates and works in schema %s', async (schema) => {
    expect(Buffer.byteLength(schema)).toBeLessThanOrEqual(63)
    expect((await migrateProjections({ pool: db.pool, schema })).applied).toEqual(ALL)
    const tables = await db.pool.query<{ t: string }>(
      'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
      [schema],
    )
    expect(tables.rows.map((r) => r.t)).toEqual([
      'annals_projections_migrations',
      'projection_checkpoints',
      'projection_dead_letters',
      'projection_leases',
      'projection_members',
      'projection_partition_checkpoints',
      'projection_partition_leases',
      'projections',
    ])
    await useTables(schema)
  })

  it('rejects what the store rejects with the same typed error, before touching the database', async () => {
    for (const schema of [`B${'x'.repeat(63)}`, 'pg_bank', 'bad-name', 'a"b', '']) {
      await expect(migrateProjections({ pool: db.pool, schema })).rejects.toMatchObject({
        code: 'ANNALS_PG_ERR_INVALID_IDENTIFIER',
      })
      expect(() => createProjectionAdmin({ pool: db.pool, schema })).toThrow(
        expect.objectContaining({ code: 'ANNALS_PG_ERR_INVALID_IDENTIFIER' }),
      )
    }
    const schemas = await db.pool.query("SELECT 1 FROM pg_namespace WHERE nspname IN ('pg_bank', 'bad-name')")
    expect(schemas.rowCount).toBe(0)
  })

  it('wraps a failing migration in ProjectionMigrationError naming it, and applies none of it', async () => {
    // A table where the registry goes makes the first CREATE TABLE fail half-way through the migration.
    await db.pool.query('CREATE SCHEMA clash; CREATE TABLE clash.projections (x int)')
    const error = await migrateProjections({ pool: db.pool, schema: 'clash' }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ANNALS_PROJ_ERR_MIGRATION', migration: '0001-projections' })
    expect((error as Error).message).toContain('schema "clash"')
    const left = await db.pool.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'clash' AND table_name <> 'projections'",
    )
    expect(left.rows).toEqual([])
  })
})

describe('concurrent migrations', () => {
  it('two migrateProjections at once both succeed and apply each migration once', async () => {
    const results = await Promise.all([
      migrateProjections({ pool: db.pool, schema: 'racing' }),
      migrateProjections({ pool: db.pool, schema: 'racing' }),
    ])
    expect(results.flatMap((r) => r.applied)).toEqual(ALL)
    const ledger = await db.pool.query('SELECT name FROM racing.annals_projections_migrations ORDER BY name')
    expect(ledger.rows.map((r) => r.name)).toEqual(ALL)
  })

  it('two at once on a release-0.1 database apply the later migrations once', async () => {
    await legacyMigrateProjections({ pool: db.pool, schema: 'racing_legacy' })
    const results = await Promise.all([
      migrateProjections({ pool: db.pool, schema: 'racing_legacy' }),
      migrateProjections({ pool: db.pool, schema: 'racing_legacy' }),
    ])
    expect(results.flatMap((r) => r.applied)).toEqual(LATER)
  })
})
