import type { Pool } from 'pg'
import { SagaMigrationError } from '../errors.js'
import { quoteIdentifier, type SagaTables, sagaTables } from './names.js'

/** Options of {@link migrateSagas}. */
export type MigrateSagasOptions = Readonly<{ pool: Pool; schema?: string }>

/** What {@link migrateSagas} applied. */
export type MigrateSagasResult = Readonly<{ applied: readonly string[] }>

/** @internal The DDL of each migration, in order (also printed in the package README). */
export function sagaMigrations(t: SagaTables): ReadonlyArray<Readonly<{ name: string; sql: string }>> {
  return [
    {
      name: '0001-saga-instances',
      sql: `
        -- One row per saga instance: the index behind listSagas, the work queue of the workers and
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
        );
        CREATE INDEX ${quoteIdentifier('saga_instances_wake_idx')} ON ${t.instances} (wake_at) WHERE wake_at IS NOT NULL;
        CREATE INDEX ${quoteIdentifier('saga_instances_status_idx')} ON ${t.instances} (status, saga, updated_at);`,
    },
  ]
}

/**
 * Creates or upgrades the saga tables in `schema` (default `annals`). Idempotent, and safe from
 * several processes at once (a transaction-scoped advisory lock serialises them).
 */
export async function migrateSagas(options: MigrateSagasOptions): Promise<MigrateSagasResult> {
  const t = sagaTables(options.schema)
  const applied: string[] = []
  let current: string | undefined
  const client = await options.pool.connect()
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`annals_sagas_migrations:${t.schema}`])
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(t.schema)}`)
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${t.migrations} (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    )
    const done = new Set(
      (await client.query<{ name: string }>(`SELECT name FROM ${t.migrations}`)).rows.map((r) => r.name),
    )
    for (const migration of sagaMigrations(t)) {
      if (done.has(migration.name)) continue
      current = migration.name
      await client.query(migration.sql)
      await client.query(`INSERT INTO ${t.migrations} (name) VALUES ($1)`, [migration.name])
      applied.push(migration.name)
    }
    await client.query('COMMIT')
    return { applied }
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw new SagaMigrationError(
      `Saga migration ${current ?? ''} failed in schema "${t.schema}": ${error instanceof Error ? error.message : String(error)}`,
      current,
      { cause: error },
    )
  } finally {
    client.release()
  }
}
