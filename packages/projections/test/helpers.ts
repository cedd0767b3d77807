import { createTestDatabase as createStoreTestDatabase } from '@annals/store-postgres/testing'
import { testRedis, uniqueKeyPrefix, waitFor } from '@annals/test-support'
import type pg from 'pg'
import { EVENTS_TABLE } from './store.js'

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
