import type { EventStore, LogWatcher } from '@annals/core'
import {
  type AnyProjection,
  createPostgresSink,
  createProjectionRunner,
  defineProjection,
  type PostgresSinkContext,
  type ProjectionRunner,
  type ReadModelSink,
  type RedisWriter,
} from '@annals/projections'
import type pg from 'pg'
import { Deposited, Withdrawn } from './annals-domain.js'
import { ANNALS_SCHEMA } from './annals-store.js'
import { libraryLogger, progress } from './context.js'
import { nowMs } from './stats.js'

/** Schema of the projection tables (leases, checkpoints, registry). */
export const PROJECTIONS_SCHEMA = 'annals_projections'

/**
 * Version 1 of a bench projection: handles an event type the log does not hold, so its first build
 * is instant. Starting version 2 (the real handlers) then makes the runner *rebuild*: a new generation
 * beside the live one, with the rebuild batch size, switched over when caught up.
 */
export function placeholder<Ctx>(name: string, sink: ReadModelSink<Ctx>): AnyProjection {
  return defineProjection({ name, version: 1, handles: ['BenchNothing'], apply: () => undefined, sink })
}

/** The balances read model in Redis: one hash per account, `balance` incremented per event. */
export function redisBalances(name: string, sink: ReadModelSink<RedisWriter>): AnyProjection {
  return defineProjection({
    name,
    version: 2,
    handles: [Deposited, Withdrawn],
    sink,
    handlers: {
      Deposited: (e, w) => w.hincrby(e.data.accountId, 'balance', e.data.amount),
      Withdrawn: (e, w) => w.hincrby(e.data.accountId, 'balance', -e.data.amount),
    },
  })
}

/** A Postgres sink holding one balances table named `table`. */
export function balancesTable(pool: pg.Pool, table: string) {
  return createPostgresSink({
    pool,
    schema: 'read_models',
    tables: {
      [table]: (t: string) =>
        `CREATE TABLE ${t} (account_id text PRIMARY KEY, balance bigint NOT NULL, events bigint NOT NULL)`,
    },
  })
}

/**
 * The balances read model in Postgres, written with `applyBatch`: one multi-row upsert per batch
 * (deltas summed per account first: ON CONFLICT cannot touch a row twice in one statement).
 */
export function postgresBalances(
  name: string,
  sink: ReadModelSink<PostgresSinkContext<string>>,
  table: string,
): AnyProjection {
  return defineProjection({
    name,
    version: 2,
    handles: [Deposited, Withdrawn],
    sink,
    async applyBatch(events, ctx) {
      const t = ctx.table(table)
      await ctx.client.query(
        `INSERT INTO ${t} (account_id, balance, events)
         SELECT a, sum(d), count(*) FROM unnest($1::text[], $2::bigint[]) AS x(a, d) GROUP BY a
         ON CONFLICT (account_id) DO UPDATE SET balance = ${t}.balance + EXCLUDED.balance, events = ${t}.events + EXCLUDED.events`,
        [events.map((e) => e.data.accountId), events.map((e) => (e.type === 'Withdrawn' ? -1 : 1) * e.data.amount)],
      )
    },
  })
}

function newRunner(
  options: Readonly<{ pool: pg.Pool; store: EventStore; watcher?: LogWatcher }>,
  projection: AnyProjection,
): ProjectionRunner {
  return createProjectionRunner({
    pool: options.pool,
    schema: PROJECTIONS_SCHEMA,
    store: options.store,
    ...(options.watcher ? { watcher: options.watcher } : {}),
    projections: [projection],
    pollIntervalMs: 50,
    controlIntervalMs: 250,
    logger: libraryLogger(),
  })
}

/**
 * A full rebuild from event zero, as the runner does it when a projection's version is bumped: the
 * placeholder (version 1) goes live first, untimed; then a runner with `projection` (version 2) is
 * started and timed until the new generation has caught up with the whole log and gone live.
 * Returns the elapsed milliseconds; prints progress every 5 s.
 */
export async function timedRebuild(
  options: Readonly<{
    pool: pg.Pool
    store: EventStore
    watcher?: LogWatcher
    placeholder: AnyProjection
    projection: AnyProjection
    total: number
  }>,
): Promise<number> {
  const first = newRunner(options, options.placeholder)
  try {
    await first.start()
    await first.waitUntilIdle({ timeoutMs: 120_000 })
  } finally {
    await first.stop()
  }
  const runner = newRunner(options, options.projection)
  const t0 = nowMs()
  const ticker = setInterval(() => {
    const st = runner.status()[0]
    if (!st) return
    const done = st.building?.eventsDone ?? st.eventsProcessed
    progress(
      `  ${options.projection.name}: ${st.state}, ${done.toLocaleString('en-US')} / ${options.total.toLocaleString('en-US')} events, ${Math.round(st.throughput).toLocaleString('en-US')} ev/s`,
    )
  }, 5000)
  try {
    await runner.start()
    const last = await options.pool.query<{ p: string | null }>(
      `SELECT max(global_position)::text AS p FROM ${ANNALS_SCHEMA}.events`,
    )
    const head = BigInt(last.rows[0]?.p ?? '0')
    // "Idle" means caught up with the log fence; a transaction elsewhere on the server can hold the
    // fence below the head for a while: wait until the live checkpoint really is at the head.
    for (;;) {
      await runner.waitUntilIdle({ timeoutMs: 15 * 60_000 })
      const cp = runner.status()[0]?.checkpoint
      if (cp && cp.position >= head) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const ms = nowMs() - t0
    const st = runner.status()[0]
    if (st?.liveGeneration === 1 || st?.liveGeneration === null) {
      throw new Error(`${options.projection.name}: still on generation ${String(st?.liveGeneration)} after the rebuild`)
    }
    return ms
  } finally {
    clearInterval(ticker)
    await runner.stop()
  }
}
