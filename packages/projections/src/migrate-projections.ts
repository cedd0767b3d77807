import { runMigrations, type SqlMigration, toExecutor } from '@annals/store-postgres/sql'
import type { Pool } from 'pg'
import { ProjectionMigrationError } from './errors.js'
import { type ProjectionTables, projectionTables } from './names.js'

/**
 * Options of {@link migrateProjections}. Give the runner, the admin API and the CLI the same `schema`
 * and `tablePrefix`: they find the projection tables by both (the sinks get them with each target).
 */
export type MigrateProjectionsOptions = Readonly<{
  pool: Pool
  /** Schema of the projection tables (created when missing). Default `annals`. */
  schema?: string
  /** Prefix of the tables' names and of the migration ledger's, e.g. `bank_`. Default none. */
  tablePrefix?: string
}>

/** What {@link migrateProjections} applied. */
export type MigrateProjectionsResult = Readonly<{ applied: readonly string[] }>

/**
 * The projection tables' DDL. The migration and index names are those of release 0.1, whose kysely
 * ledger the migrator keeps reading, so a database migrated then is never migrated twice.
 */
function projectionMigrations(t: ProjectionTables): readonly SqlMigration[] {
  return [
    {
      name: '0001-projections',
      statements: [
        // One row per projection name: which generation readers see and which one is being built.
        `CREATE TABLE ${t.registry} (
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
          )`,
        // The fencing token only ever grows; a worker's writes carry it and sinks reject older ones.
        `CREATE TABLE ${t.leases} (
            projection  text        PRIMARY KEY,
            owner       text        NOT NULL,
            token       bigint      NOT NULL,
            acquired_at timestamptz NOT NULL DEFAULT now(),
            renewed_at  timestamptz NOT NULL DEFAULT now(),
            expires_at  timestamptz NOT NULL
          )`,
        `CREATE TABLE ${t.deadLetters} (
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
          )`,
        `CREATE INDEX ${t.local('projection_dead_letters_parked_idx')} ON ${t.deadLetters} (projection, generation, stream_id, transaction_id, global_position) WHERE status = 'parked'`,
        // Checkpoints of sinks that live in this database (the Postgres sink), per generation.
        `CREATE TABLE ${t.checkpoints} (
            projection     text        NOT NULL,
            generation     integer     NOT NULL,
            transaction_id bigint      NOT NULL,
            position       bigint      NOT NULL,
            updated_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (projection, generation)
          )`,
      ],
    },
    {
      // The highest projection version that has taken each lease (it only grows, like the token): a
      // worker running an older definition may not take the lease, so a rolling deploy never rebuilds
      // the read model with the older code. 0 on rows from before: the registry's versions stand in.
      name: '0002-lease-version',
      statements: [`ALTER TABLE ${t.leases} ADD COLUMN version integer NOT NULL DEFAULT 0`],
    },
    {
      // Partitioned projections (`partitions: N`): a lease and a checkpoint per partition, and the
      // workers of each group with their heartbeats. Tables of unpartitioned projections are unchanged.
      name: '0003-partitions',
      statements: [
        // How many partitions the live and the building generation were built with (null: unpartitioned).
        // A definition with another count is a new generation, never a reshuffle of the live one.
        `ALTER TABLE ${t.registry} ADD COLUMN live_partitions integer, ADD COLUMN building_partitions integer`,
        // Tokens come from one sequence, so a token names one holding of one partition: the guards of
        // the dead letters and of the registry check it without the partition number, and a
        // partition's tokens still only grow.
        `CREATE SEQUENCE ${t.partitionTokens}`,
        // One row per partition; `status` is what its owner reported at its last renewal (checkpoint,
        // lag, build progress) for `annals projections status` and the group's switch-over.
        `CREATE TABLE ${t.partitionLeases} (
            projection          text        NOT NULL,
            partition           integer     NOT NULL,
            owner               text        NOT NULL,
            token               bigint      NOT NULL,
            acquired_at         timestamptz NOT NULL DEFAULT now(),
            renewed_at          timestamptz NOT NULL DEFAULT now(),
            expires_at          timestamptz NOT NULL,
            live_generation     integer,
            building_generation integer,
            building_caught_up  boolean     NOT NULL DEFAULT false,
            status              jsonb       NOT NULL DEFAULT '{}'::jsonb,
            PRIMARY KEY (projection, partition)
          )`,
        `CREATE UNIQUE INDEX ${t.local('projection_partition_leases_token_idx')} ON ${t.partitionLeases} (token)`,
        // Checkpoints of the Postgres sink, per generation and partition.
        `CREATE TABLE ${t.partitionCheckpoints} (
            projection     text        NOT NULL,
            generation     integer     NOT NULL,
            partition      integer     NOT NULL,
            transaction_id bigint      NOT NULL,
            position       bigint      NOT NULL,
            updated_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (projection, generation, partition)
          )`,
        // The workers running each partitioned projection: a member whose heartbeat expired is gone,
        // and the others share its partitions out.
        `CREATE TABLE ${t.members} (
            projection   text        NOT NULL,
            member       text        NOT NULL,
            joined_at    timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz NOT NULL DEFAULT now(),
            expires_at   timestamptz NOT NULL,
            PRIMARY KEY (projection, member)
          )`,
      ],
    },
  ]
}

/**
 * Creates or upgrades the projection tables (registry, leases, dead letters, checkpoints) in `schema`
 * (default `annals`), their names prefixed with `tablePrefix` (default none). Idempotent and safe
 * from several processes at once: the store's migrator serialises them with an advisory lock. A
 * database migrated by release 0.1 (kysely's `Migrator`) keeps its ledger and is not migrated again.
 */
export async function migrateProjections(options: MigrateProjectionsOptions): Promise<MigrateProjectionsResult> {
  const tables = projectionTables(options)
  const applied = await runMigrations(toExecutor({ pool: options.pool }), {
    schema: tables.schema,
    ledger: tables.ledger,
    migrations: projectionMigrations(tables),
    onError: (migration, error) =>
      new ProjectionMigrationError(
        `Projections migration ${migration ?? ''} failed in schema "${tables.schema}": ${
          error instanceof Error ? error.message : String(error)
        }`,
        migration ?? undefined,
        { cause: error },
      ),
  })
  return { applied }
}
