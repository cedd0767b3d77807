import { Kysely, type Migration, Migrator, PostgresDialect, sql } from 'kysely'
import type { Pool } from 'pg'
import { ProjectionMigrationError } from './errors.js'
import { type ProjectionTables, projectionTables, quoteIdentifier } from './names.js'

/** Options of {@link migrateProjections}. */
export type MigrateProjectionsOptions = Readonly<{ pool: Pool; schema?: string }>

/** What {@link migrateProjections} applied. */
export type MigrateProjectionsResult = Readonly<{ applied: readonly string[] }>

function migrations(t: ProjectionTables): Record<string, Migration> {
  const raw = (text: string) => sql.raw(text)
  return {
    '0001-projections': {
      async up(db) {
        await raw(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(t.schema)}`).execute(db)
        // One row per projection name: which generation readers see and which one is being built.
        await raw(`
          CREATE TABLE ${t.registry} (
            name                 text        PRIMARY KEY,
            live_generation      integer     NOT NULL,
            live_version         integer     NOT NULL,
            building_generation  integer,
            building_version     integer,
            rebuild_requested_at timestamptz,
            handles              text[]      NOT NULL DEFAULT '{}',
            sink                 text        NOT NULL DEFAULT '',
            status               jsonb       NOT NULL DEFAULT '{}'::jsonb,
            status_at            timestamptz,
            created_at           timestamptz NOT NULL DEFAULT now(),
            updated_at           timestamptz NOT NULL DEFAULT now()
          )`).execute(db)
        // The fencing token only ever grows; a worker's writes carry it and sinks reject older ones.
        await raw(`
          CREATE TABLE ${t.leases} (
            projection  text        PRIMARY KEY,
            owner       text        NOT NULL,
            token       bigint      NOT NULL,
            acquired_at timestamptz NOT NULL DEFAULT now(),
            renewed_at  timestamptz NOT NULL DEFAULT now(),
            expires_at  timestamptz NOT NULL
          )`).execute(db)
        await raw(`
          CREATE TABLE ${t.deadLetters} (
            id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            projection         text        NOT NULL,
            generation         integer     NOT NULL,
            event_id           text        NOT NULL,
            event_type         text        NOT NULL,
            stream_id          text        NOT NULL,
            stream_version     bigint      NOT NULL,
            global_position    bigint      NOT NULL,
            transaction_id     bigint      NOT NULL,
            reason             text        NOT NULL CHECK (reason IN ('failed', 'blocked')),
            status             text        NOT NULL DEFAULT 'parked' CHECK (status IN ('parked', 'replayed', 'obsolete')),
            error              text,
            stack              text,
            attempts           integer     NOT NULL DEFAULT 0,
            retry_requested_at timestamptz,
            created_at         timestamptz NOT NULL DEFAULT now(),
            resolved_at        timestamptz,
            UNIQUE (projection, generation, event_id)
          )`).execute(db)
        await raw(
          `CREATE INDEX ${quoteIdentifier('projection_dead_letters_parked_idx')} ON ${t.deadLetters} (projection, generation, stream_id, transaction_id, global_position) WHERE status = 'parked'`,
        ).execute(db)
        // Checkpoints of sinks that live in this database (the Postgres sink), per generation.
        await raw(`
          CREATE TABLE ${t.checkpoints} (
            projection     text        NOT NULL,
            generation     integer     NOT NULL,
            transaction_id bigint      NOT NULL,
            position       bigint      NOT NULL,
            updated_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (projection, generation)
          )`).execute(db)
      },
      async down(db) {
        for (const table of [t.checkpoints, t.deadLetters, t.leases, t.registry]) {
          await raw(`DROP TABLE IF EXISTS ${table}`).execute(db)
        }
      },
    },
  }
}

/**
 * Creates or upgrades the projection tables (registry, leases, dead letters, checkpoints) in `schema`
 * (default `annals`). Idempotent and safe from several processes at once (kysely's migration lock).
 */
export async function migrateProjections(options: MigrateProjectionsOptions): Promise<MigrateProjectionsResult> {
  const tables = projectionTables(options.schema)
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
    throw new ProjectionMigrationError(
      `Projections migration ${failed?.migrationName ?? ''} failed in schema "${tables.schema}": ${
        error instanceof Error ? error.message : String(error)
      }`,
      failed?.migrationName,
      { cause: error },
    )
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) }
}
