import { Kysely, type Migration, Migrator, PostgresDialect, sql } from 'kysely'
import type { Pool } from 'pg'
import { OutboxMigrationError } from './errors.js'
import { type OutboxTableOptions, type OutboxTables, quoteIdentifier, resolveTables } from './names.js'

/** Options of {@link migrateOutbox}. */
export type MigrateOutboxOptions = OutboxTableOptions & Readonly<{ pool: Pool }>

/** What {@link migrateOutbox} applied. */
export type MigrateOutboxResult = Readonly<{ applied: readonly string[] }>

function migrations(t: OutboxTables): Record<string, Migration> {
  const q = quoteIdentifier
  return {
    '0001-outbox': {
      async up(db) {
        await sql.raw(`CREATE SCHEMA IF NOT EXISTS ${q(t.schema)}`).execute(db)
        // Only the first eight columns are written by the event store's append; everything else has a
        // default so that insert never needs to know about the relay's bookkeeping.
        await sql
          .raw(`
          CREATE TABLE ${t.outbox} (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            message_id      uuid        NOT NULL,
            topic           text        NOT NULL,
            partition_key   text        NOT NULL,
            type            text        NOT NULL,
            payload         jsonb       NOT NULL,
            headers         jsonb       NOT NULL DEFAULT '{}'::jsonb,
            event_id        uuid,
            event_position  bigint,
            status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
            attempts        integer     NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_error      text,
            last_attempt_at timestamptz,
            created_at      timestamptz NOT NULL DEFAULT now(),
            sent_at         timestamptz,
            dead_at         timestamptz
          )`)
          .execute(db)
        // The relay scans pending rows in id order.
        await sql
          .raw(`CREATE INDEX ${q(`${t.outboxName}_pending_idx`)} ON ${t.outbox} (id) WHERE status = 'pending'`)
          .execute(db)
        // "Is there an unsent row of this key before this one?" is the per-key ordering check.
        await sql
          .raw(
            `CREATE INDEX ${q(`${t.outboxName}_unsent_key_idx`)} ON ${t.outbox} (partition_key, id) WHERE status <> 'sent'`,
          )
          .execute(db)
        // Keys held back by a dead or retrying head: few rows, looked up by every claim.
        await sql
          .raw(
            `CREATE INDEX ${q(`${t.outboxName}_retrying_idx`)} ON ${t.outbox} (partition_key) WHERE status <> 'sent' AND attempts > 0`,
          )
          .execute(db)
        await sql
          .raw(`CREATE INDEX ${q(`${t.outboxName}_sent_idx`)} ON ${t.outbox} (sent_at) WHERE status = 'sent'`)
          .execute(db)
        await sql.raw(`CREATE INDEX ${q(`${t.outboxName}_message_id_idx`)} ON ${t.outbox} (message_id)`).execute(db)
        await sql
          .raw(`
          CREATE TABLE ${t.processed} (
            consumer     text        NOT NULL,
            message_id   text        NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, message_id)
          )`)
          .execute(db)
        await sql
          .raw(`CREATE INDEX ${q(`${t.processedName}_processed_at_idx`)} ON ${t.processed} (processed_at)`)
          .execute(db)
      },
      async down(db) {
        await sql.raw(`DROP TABLE IF EXISTS ${t.processed}`).execute(db)
        await sql.raw(`DROP TABLE IF EXISTS ${t.outbox}`).execute(db)
      },
    },
  }
}

/**
 * Creates or upgrades the outbox and processed-messages tables in `schema` (idempotent, safe to run
 * from several processes at once: kysely's migrator serialises them with its own lock table).
 */
export async function migrateOutbox(options: MigrateOutboxOptions): Promise<MigrateOutboxResult> {
  const tables = resolveTables(options)
  // Never destroy this Kysely instance: that would end the caller's pool.
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: options.pool }) })
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations(tables) },
    migrationTableName: tables.migrationTable,
    migrationLockTableName: tables.migrationLockTable,
    migrationTableSchema: tables.schema,
  })
  const { error, results } = await migrator.migrateToLatest()
  const failed = results?.find((r) => r.status === 'Error')
  if (error !== undefined) {
    throw new OutboxMigrationError(
      `Outbox migration ${failed?.migrationName ?? ''} failed in schema "${tables.schema}": ${
        error instanceof Error ? error.message : String(error)
      }`,
      failed?.migrationName,
      { cause: error },
    )
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) }
}
