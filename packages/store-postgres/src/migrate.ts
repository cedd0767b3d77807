import { PgMigrationError } from './errors.js'
import { appendFunction, dropOldAppendFunctions } from './event-store/append-function.js'
import { storeMigrations } from './migrations.js'
import { type StoreConnection, toExecutor } from './sql/executor.js'
import { runMigrations } from './sql/migrator.js'
import { storeTables } from './store-tables.js'

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
  const names = storeTables(options)
  const applied = await runMigrations(toExecutor(options), {
    schema: names.schema,
    ledger: names.raw('annals_migrations'),
    migrations: storeMigrations(names),
    // The function is code, not data: always install the current version (a database migrated by an
    // older release gets the newer append).
    always: [{ name: 'append function', statements: [...dropOldAppendFunctions(names), appendFunction(names)] }],
    onError: (migration, error) => new PgMigrationError(migration, (error as Error).message, { cause: error }),
  })
  return { schema: names.schema, tablePrefix: names.tablePrefix, applied }
}
