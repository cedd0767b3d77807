import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { quoteIdentifier, validateSchemaName } from '../sql/identifiers.js'

/** A database created for one test file, dropped by `drop()`. */
export type TestDatabase = Readonly<{
  name: string
  connectionString: string
  pool: pg.Pool
  /** Ends the pool and drops the database (terminating leftover connections). */
  drop(): Promise<void>
}>

/**
 * Creates a fresh database `<prefix>_<random>` on the server at `adminUrl` (default `DATABASE_ADMIN_URL`,
 * else postgres://postgres@127.0.0.1:5432/postgres), so that test files run in parallel without sharing state.
 */
export async function createTestDatabase(
  prefix = 'annals_pg',
  options: Readonly<{ adminUrl?: string; poolSize?: number }> = {},
): Promise<TestDatabase> {
  const adminUrl = options.adminUrl ?? process.env.DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const name = validateSchemaName(`${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase())
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${quoteIdentifier(name)}`)
  } finally {
    await admin.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const connectionString = url.toString()
  const pool = new pg.Pool({ connectionString, max: options.poolSize ?? 10 })
  pool.on('error', () => undefined)
  return {
    name,
    connectionString,
    pool,
    async drop() {
      await pool.end().catch(() => undefined)
      const dropper = new pg.Client({ connectionString: adminUrl })
      await dropper.connect()
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`)
      } finally {
        await dropper.end()
      }
    },
  }
}
