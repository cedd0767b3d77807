import type { EventStore, IdempotencyStore, RetryPolicy, SnapshotStore } from '@annals/core'
import { type AnyProjection, createPostgresSink, defineProjection } from '@annals/projections'
import type { Pool } from 'pg'
import { type AnyReactor, createReactorHandler } from '../reactor.js'

/** Options of {@link createReactorProjection}. */
export type ReactorProjectionOptions = Readonly<{
  /** The database holding the projection tables (the checkpoint commits with the reactor's status row). */
  pool: Pool
  /** Schema of the reactor's status table. Default `annals`. */
  schema?: string
  /** Prefix of its name (the saga tables' prefix). Default none. */
  tablePrefix?: string
  store: EventStore
  idempotency?: IdempotencyStore
  snapshots?: SnapshotStore
  retry?: RetryPolicy
}>

/** The projection name a reactor runs under in the projection runner (`annals projections` lists it). */
export function reactorProjectionName(reactor: AnyReactor): string {
  return `reactor.${reactor.name}`
}

/**
 * Runs a reactor as a projection of `@annals/projections`: checkpointed, leased to one worker at a
 * time, retried, dead-lettered. Delivery is at least once (a crash after a command and before the
 * checkpoint redelivers the event); every command's idempotency key derives from the event id, so
 * the redelivery changes nothing: effectively once. Add it to a projection runner, or give the
 * reactor to `createSagaWorker({ reactors })`.
 */
export function createReactorProjection(reactor: AnyReactor, options: ReactorProjectionOptions): AnyProjection {
  const handle = createReactorHandler(reactor, options)
  // defineReactor allows lower-case letters, digits, `_`, `-` and `.` (at most 40): with the other
  // two mapped to `_`, the table name is a plain identifier of at most 48 characters plus the prefix
  // (the sink refuses, with its typed error, a combination too long for Postgres).
  const table = `${options.tablePrefix ?? ''}reactor_${reactor.name.replace(/[^a-z0-9_]/g, '_')}`
  return defineProjection({
    name: reactorProjectionName(reactor),
    version: 1,
    handles: reactor.handles,
    sink: createPostgresSink({
      pool: options.pool,
      schema: options.schema ?? 'annals',
      tables: {
        // One row: what the reactor handled last (its checkpoint lives with the projection tables).
        [table]: (name: string) =>
          `CREATE TABLE ${name} (id int PRIMARY KEY, last_event_id text NOT NULL, last_event_type text NOT NULL,
             reactions bigint NOT NULL, reacted_at timestamptz NOT NULL)`,
      },
    }),
    async apply(event, ctx) {
      await handle(event)
      await ctx.client.query(
        `INSERT INTO ${ctx.table(table)} (id, last_event_id, last_event_type, reactions, reacted_at)
         VALUES (1, $1, $2, 1, now())
         ON CONFLICT (id) DO UPDATE SET last_event_id = excluded.last_event_id,
           last_event_type = excluded.last_event_type, reactions = ${ctx.table(table)}.reactions + 1, reacted_at = now()`,
        [event.eventId, event.type],
      )
    },
  })
}
