import { readFileSync } from 'node:fs'
import { Kysely, type Migration, Migrator, PostgresDialect, sql } from 'kysely'
import type { Pool } from 'pg'

/** Where release 0.1 kept a package's kysely migration ledger. */
export type KyselyLedger = Readonly<{ schema: string; table: string; lockTable: string }>

/**
 * Runs migrations the way release 0.1 of the outbox and projections packages did (kysely's
 * `Migrator`, its ledger and lock tables), so a test can build the database an upgrading user has
 * and check that the current migrator takes it over. Throws the migration's error.
 * @example await migrateLikeRelease01(pool, { schema: 'annals', table: 'annals_outbox_migrations', lockTable: 'annals_outbox_migrations_lock' }, oldMigrations)
 */
export async function migrateLikeRelease01(
  pool: Pool,
  ledger: KyselyLedger,
  migrations: Readonly<Record<string, Migration>>,
): Promise<{ applied: string[] }> {
  // Never destroy this Kysely instance: that would end the caller's pool.
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) })
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...migrations }) },
    migrationTableName: ledger.table,
    migrationLockTableName: ledger.lockTable,
    migrationTableSchema: ledger.schema,
  })
  const { error, results } = await migrator.migrateToLatest()
  if (error !== undefined) throw error
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) }
}

/**
 * A kysely migration that runs a frozen SQL file (a released version's DDL, kept as data so the test
 * cannot drift with the current code), each `{{name}}` in it replaced by `names[name]`. The
 * placeholders stand inside quoted identifiers, so a double quote in a value is doubled.
 * @example frozenSqlMigration(new URL('./release-0.1-outbox.sql', import.meta.url), { schema: 'annals', prefix: '' })
 */
export function frozenSqlMigration(file: URL, names: Readonly<Record<string, string>>): Migration {
  const text = readFileSync(file, 'utf8').replaceAll(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = names[name]
    if (value === undefined) throw new Error(`${file.pathname}: no value for {{${name}}}`)
    return value.replaceAll('"', '""')
  })
  // No parameters, so pg sends the whole file as one simple query: several statements are allowed.
  return { up: async (db) => void (await sql.raw(text).execute(db)) }
}
