import { runMigrations, type SqlMigration, toExecutor } from '@annals/store-postgres/sql'
import type { Pool } from 'pg'
import { SagaMigrationError } from '../errors.js'
import { type SagaTables, sagaTables } from './saga-tables.js'

/** Options of {@link migrateSagas}. */
export type MigrateSagasOptions = Readonly<{
  pool: Pool
  /** Schema of the saga tables (created when missing). Default `annals`. */
  schema?: string
  /** Prefix of the tables' names and of the migration ledger's, e.g. `bank_`. Default none. */
  tablePrefix?: string
}>

/** What {@link migrateSagas} applied. */
export type MigrateSagasResult = Readonly<{ applied: readonly string[] }>

/** @internal The DDL of each migration, in order (also printed in the package README). */
export function sagaMigrations(t: SagaTables): readonly SqlMigration[] {
  return [
    {
      name: '0001-saga-instances',
      statements: [
        `-- One row per saga instance: the index behind listSagas, the work queue of the workers and
        -- the deadline timer. The saga's own stream is the truth; this row is derived from it (every
        -- drive rewrites it, and the router recreates a missing one from the SagaStarted event).
        CREATE TABLE ${t.instances} (
          saga          text        NOT NULL,
          saga_id       text        NOT NULL,
          stream_id     text        NOT NULL,
          status        text        NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'compensating', 'completed', 'compensated', 'failed')),
          current_step  text,
          version       bigint      NOT NULL DEFAULT 0,
          -- When a worker should drive the instance next: now (runnable), a step deadline, or NULL
          -- (waiting for an event, or ended).
          wake_at       timestamptz,
          -- Bumped by every wake-up, so a worker never clears one it did not see.
          wake_seq      bigint      NOT NULL DEFAULT 0,
          deadline_at   timestamptz,
          locked_by     text,
          locked_until  timestamptz,
          attempts      integer     NOT NULL DEFAULT 0,
          last_error    text,
          started_at    timestamptz NOT NULL DEFAULT now(),
          updated_at    timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (saga, saga_id)
        )`,
        `CREATE INDEX ${t.local('saga_instances_wake_idx')} ON ${t.instances} (wake_at) WHERE wake_at IS NOT NULL`,
        `CREATE INDEX ${t.local('saga_instances_status_idx')} ON ${t.instances} (status, saga, updated_at)`,
      ],
    },
  ]
}

/**
 * Creates or upgrades the saga tables in `schema` (default `annals`), their names prefixed with
 * `tablePrefix` (default none), with the toolkit's migrator: idempotent, and safe from several
 * processes at once (an advisory lock serialises them). The ledger is `<tablePrefix>saga_migrations`,
 * unprefixed `saga_migrations` as in earlier releases, so their databases need nothing applied again.
 */
export async function migrateSagas(options: MigrateSagasOptions): Promise<MigrateSagasResult> {
  const t = sagaTables(options)
  const applied = await runMigrations(toExecutor({ pool: options.pool }), {
    schema: t.schema,
    ledger: t.raw('saga_migrations'),
    migrations: sagaMigrations(t),
    onError: (migration, error) =>
      new SagaMigrationError(
        `Saga migration ${migration ?? ''} failed in schema "${t.schema}": ${error instanceof Error ? error.message : String(error)}`,
        migration ?? undefined,
        { cause: error },
      ),
  })
  return { applied }
}
