import { migrateOutbox } from '@annals/outbox'
import { migrateProjections } from '@annals/projections'
import { migrateSagas } from '@annals/sagas/postgres'
import { migrate } from '@annals/store-postgres'
import { PgInvalidIdentifierError, type TableLocation } from '@annals/store-postgres/sql'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runAnnals } from './run-annals.js'

// The one identifier rule of Annals (@annals/store-postgres/sql), seen from every package that
// migrates tables: a schema or table prefix one package takes, all take; one that one package
// refuses, all refuse, with the same typed error and before creating anything.

type Migration = (pool: pg.Pool, location: TableLocation) => Promise<Readonly<{ applied: readonly string[] }>>

const schemaCases: ReadonlyArray<readonly [name: string, migrate: Migration]> = [
  ['event store', (pool, { schema }) => migrate({ pool, ...(schema !== undefined ? { schema } : {}) })],
  ['outbox', (pool, { schema }) => migrateOutbox({ pool, ...(schema !== undefined ? { schema } : {}) })],
  ['projections', (pool, { schema }) => migrateProjections({ pool, ...(schema !== undefined ? { schema } : {}) })],
  ['sagas', (pool, { schema }) => migrateSagas({ pool, ...(schema !== undefined ? { schema } : {}) })],
]

/** Whether a migrate function's options have `tablePrefix`. */
type TakesTablePrefix<F> = F extends (options: infer O) => unknown
  ? 'tablePrefix' extends keyof O
    ? true
    : false
  : never

// Every package with a `tablePrefix` option has a line in `prefixCases`. When a package gains the
// option, its entry here stops compiling: flip it to true and add its line below.
const takesTablePrefix = {
  'event store': true satisfies TakesTablePrefix<typeof migrate>,
  outbox: true satisfies TakesTablePrefix<typeof migrateOutbox>,
  projections: true satisfies TakesTablePrefix<typeof migrateProjections>,
  sagas: true satisfies TakesTablePrefix<typeof migrateSagas>,
} as const

const prefixCases: ReadonlyArray<readonly [name: keyof typeof takesTablePrefix, migrate: Migration]> = [
  ['event store', (pool, location) => migrate({ pool, ...location })],
  ['outbox', (pool, location) => migrateOutbox({ pool, ...location })],
  ['projections', (pool, location) => migrateProjections({ pool, ...location })],
  ['sagas', (pool, location) => migrateSagas({ pool, ...location })],
]

const longestSchema = `Bank_${'x'.repeat(58)}`
const rejectedSchemas = ['pg_x', 'a;b', '', 'x'.repeat(64)]
const longestPrefix = `${'p'.repeat(27)}_`
const tooLongPrefix = `${'p'.repeat(28)}_`

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase('annals_cli_identifiers')
})
afterAll(async () => {
  await db?.drop()
})

/** Every schema and relation but Postgres' own (a `pg_x` schema would show): what a refused migration must leave unchanged. */
async function everything(): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT nspname || '.' || coalesce(relname, '') AS name
       FROM pg_namespace LEFT JOIN pg_class ON relnamespace = pg_namespace.oid
      WHERE nspname NOT IN ('pg_catalog', 'pg_toast', 'information_schema')
        AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
      ORDER BY 1`,
  )
  return rows.map((r) => r.name)
}

async function refusal(run: () => Promise<unknown>): Promise<PgInvalidIdentifierError> {
  const before = await everything()
  const error = await run().then(
    () => null,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(PgInvalidIdentifierError)
  expect(await everything()).toEqual(before)
  return error as PgInvalidIdentifierError
}

describe('one identifier rule across the packages', () => {
  it.each(schemaCases)(
    'the %s migrates schema Bank and a 63-byte schema; a second run applies nothing',
    async (_, run) => {
      expect(Buffer.byteLength(longestSchema)).toBe(63)
      for (const schema of ['Bank', longestSchema]) {
        expect((await run(db.pool, { schema })).applied.length).toBeGreaterThan(0)
        expect((await run(db.pool, { schema })).applied).toEqual([])
      }
      const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1', ['Bank'])
      expect(rows[0]?.n).toBeGreaterThan(0)
    },
  )

  it.each(rejectedSchemas.map((schema) => [JSON.stringify(schema), schema] as const))(
    'every package refuses schema %s with the same PgInvalidIdentifierError and creates nothing',
    async (_, schema) => {
      const errors: PgInvalidIdentifierError[] = []
      for (const [, run] of schemaCases) errors.push(await refusal(() => run(db.pool, { schema })))
      expect(errors.map((e) => e.code)).toEqual(schemaCases.map(() => 'ANNALS_PG_ERR_INVALID_IDENTIFIER'))
      expect(new Set(errors.map((e) => e.message)).size).toBe(1)
    },
  )

  it.each(prefixCases)('the %s takes a 28-byte table prefix', async (_, run) => {
    expect(Buffer.byteLength(longestPrefix)).toBe(28)
    const location = { schema: 'prefixed', tablePrefix: longestPrefix }
    expect((await run(db.pool, location)).applied.length).toBeGreaterThan(0)
    expect((await run(db.pool, location)).applied).toEqual([])
  })

  it('every package with a table prefix refuses a 29-byte one with the same error and creates nothing', async () => {
    expect(Buffer.byteLength(tooLongPrefix)).toBe(29)
    expect(prefixCases.map(([name]) => name)).toEqual(
      Object.entries(takesTablePrefix)
        .filter(([, takes]) => takes)
        .map(([name]) => name),
    )
    const errors: PgInvalidIdentifierError[] = []
    for (const [, run] of prefixCases) {
      errors.push(await refusal(() => run(db.pool, { schema: 'too_long', tablePrefix: tooLongPrefix })))
    }
    expect(new Set(errors.map((e) => e.message)).size).toBe(1)
  })
})

describe('annals migrate --schema Bank', () => {
  let cliDb: TestDatabase
  beforeAll(async () => {
    cliDb = await createTestDatabase('annals_cli_bank')
  })
  afterAll(async () => {
    await cliDb?.drop()
  })

  it('migrates every package into the mixed-case schema, then finds it up to date', async () => {
    const env = { DATABASE_URL: cliDb.connectionString }
    const first = await runAnnals(['migrate', '--schema', 'Bank'], env)
    expect(first.stderr).toBe('')
    expect(first.status).toBe(0)
    const lines = first.stdout.trim().split('\n')
    expect(lines.map((l) => l.split(':')[0])).toEqual(['store', 'outbox', 'projections', 'sagas'])
    for (const line of lines) expect(line).toMatch(/: applied .+ in schema "Bank"$/)
    const { rows } = await cliDb.pool.query<{ t: string }>(
      'SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1',
      ['Bank'],
    )
    expect(rows.map((r) => r.t)).toEqual(expect.arrayContaining(['events', 'outbox', 'projections', 'saga_instances']))
    const again = await runAnnals(['migrate', '--schema', 'Bank'], env)
    expect(again.stdout.trim().split('\n')).toEqual(
      ['store', 'outbox', 'projections', 'sagas'].map((what) => `${what}: schema "Bank" is up to date`),
    )
  })
})
