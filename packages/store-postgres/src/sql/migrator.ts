import type { SqlExecutor, SqlRunner } from './executor.js'
import { quoteIdentifier } from './identifiers.js'

/** One schema change: applied once, in list order, inside the migration transaction. */
export type SqlMigration = Readonly<{
  name: string
  /** The statements, run one after another. */
  statements: readonly string[]
}>

/** What {@link runMigrations} needs. */
export type RunMigrationsOptions = Readonly<{
  /** The validated (unquoted) schema; created when missing. */
  schema: string
  /** The unqualified, unquoted table recording applied migrations. */
  ledger: string
  migrations: readonly SqlMigration[]
  /**
   * Statements run on every migration, after the pending ones: code rather than data (a function),
   * so a database migrated by an older release gets the current version.
   */
  always?: readonly SqlMigration[]
  /** Wraps a failure in the package's typed error; `migration` is null when the setup failed. */
  onError(migration: string | null, error: unknown): Error
}>

/**
 * The one migrator of Annals: one transaction under an advisory lock keyed by the ledger, so
 * concurrent runs wait for each other and re-running applies nothing; a failure rolls everything
 * back. Ledgers written by kysely's `Migrator` (the outbox and projections of release 0.1: columns
 * `name`, `timestamp`) are read and appended in their own format, so those databases keep working.
 * @returns the names applied by this run.
 */
export async function runMigrations(executor: SqlExecutor, options: RunMigrationsOptions): Promise<string[]> {
  const ledger = `${quoteIdentifier(options.schema)}.${quoteIdentifier(options.ledger)}`
  let current: string | null = null
  try {
    return await executor.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [
        'annals_migrate',
        `${options.schema}.${options.ledger}`,
      ])
      await tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(options.schema)}`)
      await tx.query(
        `CREATE TABLE IF NOT EXISTS ${ledger} (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      )
      const record = await ledgerWriter(tx, options.schema, options.ledger, ledger)
      const done = new Set((await tx.query<{ name: string }>(`SELECT name FROM ${ledger}`)).map((row) => row.name))
      const applied: string[] = []
      for (const migration of options.migrations) {
        if (done.has(migration.name)) continue
        current = migration.name
        for (const statement of migration.statements) await tx.query(statement)
        await record(migration.name)
        applied.push(migration.name)
      }
      for (const step of options.always ?? []) {
        current = step.name
        for (const statement of step.statements) await tx.query(statement)
      }
      return applied
    })
  } catch (error) {
    throw options.onError(current, error)
  }
}

async function ledgerWriter(
  tx: SqlRunner,
  schema: string,
  table: string,
  ledger: string,
): Promise<(name: string) => Promise<unknown>> {
  const columns = await tx.query<{ column_name: string }>(
    'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
    [schema, table],
  )
  if (columns.some((c) => c.column_name === 'timestamp')) {
    // kysely's format: the timestamp is an ISO string in a varchar column.
    return (name) =>
      tx.query(`INSERT INTO ${ledger} (name, timestamp) VALUES ($1, $2)`, [name, new Date().toISOString()])
  }
  return (name) => tx.query(`INSERT INTO ${ledger} (name) VALUES ($1)`, [name])
}
