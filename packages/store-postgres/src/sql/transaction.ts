import type pg from 'pg'

type Checkout<T> = (client: pg.PoolClient, markBroken: (error: Error) => void) => Promise<T>

async function checkout<T>(pool: pg.Pool, work: Checkout<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  const markBroken = (error: Error): void => {
    broken ??= error
  }
  client.on('error', markBroken)
  try {
    return await work(client, markBroken)
  } finally {
    client.off('error', markBroken)
    client.release(broken)
  }
}

/**
 * Checks a client out of `pool` for `work` and releases it afterwards. While it is checked out an
 * `error` listener is attached: a connection that dies between queries (a server restart, a killed
 * backend) emits `error` on the client, and without a listener node-postgres re-throws it as an
 * uncaught exception that ends the process. A client that failed is released as broken, never reused.
 */
export function withClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return checkout(pool, (client) => work(client))
}

/** Options of {@link withTransaction} and {@link inTransaction}. */
export type TransactionOptions = Readonly<{
  /** The statement that opens the transaction. Default `BEGIN`. */
  begin?: string
}>

/**
 * Runs `work` in one transaction on one client of `pool`: BEGIN, then COMMIT when `work` resolves or
 * ROLLBACK when it throws (the error is re-thrown; a client whose ROLLBACK failed is discarded).
 * @example await withTransaction(pool, async (client) => { await client.query('INSERT …') })
 */
export function withTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  return checkout(pool, (client, markBroken) => transact(client, work, options, markBroken))
}

/** Runs `work` in one transaction on a client the caller holds (BEGIN … COMMIT, ROLLBACK on error). */
export function inTransaction<T>(
  client: pg.PoolClient | pg.Client,
  work: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  return transact(client as pg.PoolClient, work, options, () => {})
}

async function transact<T>(
  client: pg.PoolClient,
  work: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions,
  markBroken: (error: Error) => void,
): Promise<T> {
  await client.query(options.begin ?? 'BEGIN')
  try {
    const result = await work(client)
    await client.query('COMMIT')
    return result
  } catch (error) {
    await client.query('ROLLBACK').catch(markBroken)
    throw error
  }
}
