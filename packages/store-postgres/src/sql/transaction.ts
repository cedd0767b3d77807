import type pg from 'pg'
import { type CheckedOutClient, checkOut, type TransactionOptions, transact } from './check-out.js'

export type { TransactionOptions } from './check-out.js'

async function holding<T>(pool: pg.Pool, work: (held: CheckedOutClient) => Promise<T>): Promise<T> {
  const held = await checkOut(pool)
  try {
    return await work(held)
  } finally {
    held.release()
  }
}

/**
 * Checks a client out of `pool` for `work` (guarded by {@link checkOut}) and releases it afterwards. A
 * connection that dies meanwhile fails `work` with `PgConnectionLostError` instead of ending the
 * process, and the client is destroyed, never reused.
 */
export function withClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return holding(pool, (held) => held.run(work))
}

/**
 * Runs `work` in one transaction on one client of `pool`: BEGIN, then COMMIT when `work` resolves or
 * ROLLBACK when it throws (the error is re-thrown; a client whose ROLLBACK failed is discarded). A
 * connection that dies meanwhile fails it with `PgConnectionLostError`, as in {@link withClient}.
 * @example await withTransaction(pool, async (client) => { await client.query('INSERT …') })
 */
export function withTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  return holding(pool, (held) => held.transaction(work, options))
}

/** Runs `work` in one transaction on a client the caller holds (BEGIN … COMMIT, ROLLBACK on error). */
export function inTransaction<T>(
  client: pg.PoolClient | pg.Client,
  work: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const pooled = client as pg.PoolClient
  return transact(pooled, work, options, async (error, phase) => {
    if (phase !== 'begin') await pooled.query('ROLLBACK').catch(() => undefined)
    return error
  })
}
