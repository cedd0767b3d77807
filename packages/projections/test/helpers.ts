import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'
import { EVENTS_TABLE } from './store.js'

export const PG_ADMIN_URL = process.env.ANNALS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const REDIS_URL = process.env.ANNALS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export function randomSuffix(): string {
  return randomBytes(5).toString('hex')
}

/** Creates a throwaway database; `drop()` removes it (terminating leftover connections). */
export async function createTestDatabase(prefix = 'annals_proj') {
  const name = `${prefix}_${randomSuffix()}`
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${name}`
  const connectionString = url.toString()
  const pool = new pg.Pool({ connectionString, max: 10 })
  // Dropping the database terminates its connections; an idle client's error must not crash the run.
  pool.on('error', () => undefined)
  return {
    name,
    url: connectionString,
    pool,
    async drop() {
      await pool.end().catch(() => {})
      const c = new pg.Client({ connectionString: PG_ADMIN_URL })
      await c.connect()
      await c.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      )
      await c.query(`DROP DATABASE IF EXISTS ${name}`)
      await c.end()
    },
  }
}

/** A Redis client plus a random key prefix, and a cleanup that deletes only that prefix. */
export function createTestRedis() {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 })
  const keyPrefix = `annals-test-${randomSuffix()}:`
  return {
    redis,
    keyPrefix,
    async cleanup() {
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000)
        cursor = next
        if (keys.length > 0) await redis.unlink(...keys)
      } while (cursor !== '0')
      redis.disconnect()
    },
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== null && value !== false) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
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
