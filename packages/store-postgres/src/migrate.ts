import { MigrationError } from './errors.js'
import { storeNames } from './identifiers.js'
import { appendFunction, MIGRATIONS } from './migrations.js'
import { type StoreConnection, toExecutor } from './sql-executor.js'

/** Where to migrate: a connection plus the schema (default `annals`) and table prefix (default none). */
export type MigrateOptions = StoreConnection & Readonly<{ schema?: string; tablePrefix?: string }>

/** What {@link migrate} did. */
export type MigrateResult = Readonly<{ schema: string; tablePrefix: string; applied: readonly string[] }>

/**
 * Creates or upgrades the store's tables and its append function in `schema`. Runs in one transaction
 * under an advisory lock, so concurrent runs wait for each other; re-running applies nothing.
 * @example await migrate({ pool, schema: 'annals' })
 */
export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const names = storeNames(options.schema ?? 'annals', options.tablePrefix ?? '')
  const executor = toExecutor(options)
  let current: string | null = null
  try {
    const applied = await executor.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [
        'annals_pg_migrate',
        `${names.schema}.${names.prefix}`,
      ])
      await tx.query(`CREATE SCHEMA IF NOT EXISTS ${names.qSchema}`)
      await tx.query(
        `CREATE TABLE IF NOT EXISTS ${names.migrations} (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      )
      const done = new Set(
        (await tx.query<{ name: string }>(`SELECT name FROM ${names.migrations}`)).map((row) => row.name),
      )
      const now: string[] = []
      for (const migration of MIGRATIONS) {
        if (done.has(migration.name)) continue
        current = migration.name
        for (const statement of migration.statements(names)) await tx.query(statement)
        await tx.query(`INSERT INTO ${names.migrations} (name) VALUES ($1)`, [migration.name])
        now.push(migration.name)
      }
      // The function is code, not data: always install the current version (a database migrated by an
      // older release gets the newer append).
      current = 'append function'
      await tx.query(appendFunction(names))
      current = null
      return now
    })
    return { schema: names.schema, tablePrefix: names.prefix, applied }
  } catch (error) {
    throw new MigrationError(current, (error as Error).message, { cause: error })
  }
}
