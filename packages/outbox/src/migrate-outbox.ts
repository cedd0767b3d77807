import { outboxMigrations, outboxTables } from '@annals/store-postgres/outbox'
import { runMigrations, type TableLocation, toExecutor } from '@annals/store-postgres/sql'
import type { Pool } from 'pg'
import { OutboxMigrationError } from './errors.js'

/** Options of {@link migrateOutbox}. */
export type MigrateOutboxOptions = TableLocation & Readonly<{ pool: Pool }>

/** What {@link migrateOutbox} applied. */
export type MigrateOutboxResult = Readonly<{ applied: readonly string[] }>

/**
 * Creates or upgrades the outbox and processed-messages tables in `schema` (idempotent, safe to run
 * from several processes at once: the store's migrator serialises them with an advisory lock). A
 * database migrated by release 0.1 (kysely's `Migrator`) keeps its ledger and is not migrated again.
 */
export async function migrateOutbox(options: MigrateOutboxOptions): Promise<MigrateOutboxResult> {
  const tables = outboxTables(options)
  const applied = await runMigrations(toExecutor({ pool: options.pool }), {
    schema: tables.schema,
    ledger: tables.ledger,
    migrations: outboxMigrations(tables),
    onError: (migration, error) =>
      new OutboxMigrationError(
        `Outbox migration ${migration ?? ''} failed in schema "${tables.schema}": ${
          error instanceof Error ? error.message : String(error)
        }`,
        migration ?? undefined,
        { cause: error },
      ),
  })
  return { applied }
}
