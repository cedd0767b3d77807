import type { EventStore, LogWatcher } from '@annals/core'
import { createTestDatabase as createStoreTestDatabase } from '@annals/store-postgres/testing'
import { testRedis, uniqueKeyPrefix, waitFor } from '@annals/test-support'
import type pg from 'pg'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'
import { migrateProjections } from '../src/migrate-projections.js'
import { defineProjection } from '../src/projection.js'
import { createProjectionRunner, type ProjectionRunner } from '../src/runner/create-projection-runner.js'
import type { ProjectionRunnerOptions } from '../src/runner/runner-options.js'
import { createPostgresSink } from '../src/sinks/postgres-sink.js'
import { EVENTS_TABLE, pgStore } from './store.js'

export const PG_ADMIN_URL = process.env.ANNALS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** Creates a throwaway database (the store's test helper); `drop()` removes it. `url` is its connection string. */
export async function createTestDatabase(prefix = 'annals_proj') {
  const db = await createStoreTestDatabase(prefix, { adminUrl: PG_ADMIN_URL })
  return { name: db.name, url: db.connectionString, pool: db.pool, drop: db.drop }
}

/** A Redis client plus a unique key prefix, and a cleanup that deletes only that prefix and quits. */
export function createTestRedis() {
  const keyPrefix = uniqueKeyPrefix('projections')
  const redis = testRedis(keyPrefix)
  return { redis, keyPrefix, cleanup: () => redis.close() }
}

/** The runner options a test bed fills in: its pool and store, a silent logger, a 50 ms poll. */
export type TestRunnerOptions = Omit<ProjectionRunnerOptions, 'pool' | 'store'> &
  Partial<Pick<ProjectionRunnerOptions, 'pool' | 'store'>>

/** A throwaway database with the store (schema `annals`) and the projection tables migrated, and a Redis key prefix. */
export type ProjectionsTestBed = Readonly<{
  db: Awaited<ReturnType<typeof createTestDatabase>>
  r: ReturnType<typeof createTestRedis>
  /** The Postgres event store of the database. */
  store: EventStore
  /** A log watcher that is already listening (close it at the end of the test). */
  watcher(): Promise<LogWatcher>
  /** A runner over the bed's pool and store; what the test passes wins over the defaults. */
  runner(options: TestRunnerOptions): ProjectionRunner
}>

const silent = pino({ level: 'silent' })

/** Creates a {@link ProjectionsTestBed} outside vitest's hooks (a benchmark); `close()` drops it. */
export async function createProjectionsTestBed(
  prefix = 'annals_proj',
): Promise<ProjectionsTestBed & { close(): Promise<void> }> {
  const db = await createTestDatabase(prefix)
  const r = createTestRedis()
  await pgStore.migrate({ pool: db.pool, schema: 'annals' })
  await migrateProjections({ pool: db.pool })
  const store = pgStore.createPostgresEventStore({ pool: db.pool, schema: 'annals' })
  return {
    db,
    r,
    store,
    watcher: () => pgStore.createPostgresLogWatcher({ pool: db.pool, schema: 'annals' }),
    runner: (options) =>
      createProjectionRunner({ pool: db.pool, store, logger: silent, pollIntervalMs: 50, ...options }),
    async close() {
      await r.cleanup()
      await db.drop()
    },
  }
}

/**
 * Registers the hooks that give the calling suite a fresh {@link ProjectionsTestBed} before each test
 * (`'each'`) or one for the whole file (`'all'`), torn down afterwards. The returned object reads the
 * current bed, so it can be captured at the top of a `describe`.
 */
export function useProjectionsTestBed(scope: 'each' | 'all' = 'each'): ProjectionsTestBed {
  let bed: Awaited<ReturnType<typeof createProjectionsTestBed>> | undefined
  const current = () => {
    if (!bed) throw new Error('the projections test bed is used outside a test')
    return bed
  }
  ;(scope === 'each' ? beforeEach : beforeAll)(async () => {
    bed = await createProjectionsTestBed()
  })
  ;(scope === 'each' ? afterEach : afterAll)(async () => {
    await bed?.close()
    bed = undefined
  })
  return {
    get db() {
      return current().db
    },
    get r() {
      return current().r
    },
    get store() {
      return current().store
    },
    watcher: () => current().watcher(),
    runner: (options) => current().runner(options),
  }
}

/**
 * Waits until the runner applied every handled event committed so far, judged by the events table
 * itself (not through the gap-safe reader, whose fence is server-wide: a transaction another test
 * holds open elsewhere on the server would make `waitUntilIdle` return before our events are visible).
 */
export async function waitUntilApplied(
  pool: pg.Pool,
  runner: {
    status(): readonly {
      name: string
      state: string
      building: unknown
      checkpoint: { transactionId: bigint; position: bigint } | null
    }[]
  },
  projections: readonly { name: string; handles: readonly string[] }[],
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    'projections applied every committed event',
    async () => {
      for (const p of projections) {
        const s = runner.status().find((x) => x.name === p.name)
        if (s?.state !== 'live' || s.building !== null) return false
        const { rows } = await pool.query<{ tx: string; pos: string }>(
          `SELECT e.transaction_id::text AS tx, e.global_position::text AS pos FROM ${EVENTS_TABLE} e
           WHERE e.type = ANY($1::text[]) ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1`,
          [p.handles],
        )
        const last = rows[0]
        if (!last) continue
        const cp = s.checkpoint
        if (!cp) return false
        const tx = BigInt(last.tx)
        if (cp.transactionId < tx || (cp.transactionId === tx && cp.position < BigInt(last.pos))) return false
      }
      return true
    },
    timeoutMs,
  )
}

/**
 * A Postgres projection summing `Deposited` amounts (times `factor`) per stream into `rm.totals(id, total)`;
 * a new `version` with another `factor` tells a rebuild's result from the old generation's.
 */
export function postgresTotals(pool: pg.Pool, name: string, version = 1, factor = 1) {
  return defineProjection({
    name,
    version,
    handles: ['Deposited'] as const,
    sink: createPostgresSink({
      pool,
      schema: 'rm',
      tables: { totals: (t) => `CREATE TABLE ${t} (id text PRIMARY KEY, total bigint NOT NULL)` },
    }),
    async apply(e, { client, table }) {
      await client.query(
        `INSERT INTO ${table('totals')} (id, total) VALUES ($1, $2)
         ON CONFLICT (id) DO UPDATE SET total = ${table('totals')}.total + excluded.total`,
        [e.streamId, (e.data as { amount: number }).amount * factor],
      )
    },
  })
}
