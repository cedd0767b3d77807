import { Kysely, type Migration, Migrator, PostgresDialect } from 'kysely'
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
