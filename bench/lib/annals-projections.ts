import type { EventStore, LogWatcher } from '@annals/core'
import {
  type AnyProjection,
  createPostgresSink,
  createProjectionRunner,
  createRedisSink,
  defineProjection,
  type ProjectionRunner,
} from '@annals/projections'
import type { Redis } from 'ioredis'
import type pg from 'pg'
import { Deposited, Withdrawn } from './annals-domain.js'
import { libraryLogger, progress } from './context.js'
import { nowMs } from './stats.js'

/** Schema of the projection tables (leases, checkpoints, registry). */
export const PROJECTIONS_SCHEMA = 'annals_projections'

/** The balances read model in Redis: one hash per account, `balance` incremented per event. */
export function redisBalances(name: string, redis: Redis, keyPrefix: string): AnyProjection {
  return defineProjection({
    name,
    version: 1,
    handles: [Deposited, Withdrawn],
    sink: createRedisSink({ redis, keyPrefix }),
    handlers: {
      Deposited: (e, w) => w.hincrby(e.data.accountId, 'balance', e.data.amount),
      Withdrawn: (e, w) => w.hincrby(e.data.accountId, 'balance', -e.data.amount),
    },
  })
}

/** The balances read model in Postgres: one row per account, upserted per event (the handler API is per event). */
export function postgresBalances(name: string, pool: pg.Pool, table: string): AnyProjection {
  const upsert = (t: string) =>
    `INSERT INTO ${t} (account_id, balance, events) VALUES ($1, $2, 1)
     ON CONFLICT (account_id) DO UPDATE SET balance = ${t}.balance + EXCLUDED.balance, events = ${t}.events + 1`
  return defineProjection({
    name,
    version: 1,
    handles: [Deposited, Withdrawn],
    sink: createPostgresSink({
      pool,
      schema: 'read_models',
      tables: {
        [table]: (t: string) =>
          `CREATE TABLE ${t} (account_id text PRIMARY KEY, balance bigint NOT NULL, events bigint NOT NULL)`,
      },
    }),
    handlers: {
      Deposited: async (e, ctx) => {
        await ctx.client.query(upsert(ctx.table(table)), [e.data.accountId, e.data.amount])
      },
      Withdrawn: async (e, ctx) => {
        await ctx.client.query(upsert(ctx.table(table)), [e.data.accountId, -e.data.amount])
      },
    },
  })
}

/**
 * Builds one projection from event zero with a fresh runner: start, wait until caught up and live,
 * stop. Returns the elapsed milliseconds; prints progress every 5 s.
 */
export async function buildFromZero(
  options: Readonly<{
    pool: pg.Pool
    store: EventStore
    watcher?: LogWatcher
    projection: AnyProjection
    total: number
  }>,
): Promise<number> {
  const runner: ProjectionRunner = createProjectionRunner({
    pool: options.pool,
    schema: PROJECTIONS_SCHEMA,
    store: options.store,
    ...(options.watcher ? { watcher: options.watcher } : {}),
    projections: [options.projection],
    pollIntervalMs: 50,
    logger: libraryLogger(),
    controlIntervalMs: 250,
  })
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
    await runner.waitUntilIdle({ timeoutMs: 15 * 60_000 })
    return nowMs() - t0
  } finally {
    clearInterval(ticker)
    await runner.stop()
  }
}
