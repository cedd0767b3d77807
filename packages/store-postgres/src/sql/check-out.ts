import type pg from 'pg'
import { PgConnectionLostError } from '../errors.js'

/** Options of a transaction: {@link CheckedOutClient.transaction}, `withTransaction` and `inTransaction`. */
export type TransactionOptions = Readonly<{
  /** The statement that opens the transaction. Default `BEGIN`. */
  begin?: string
}>

/** A client checked out of a pool by {@link checkOut}, guarded until {@link CheckedOutClient.release}. */
export interface CheckedOutClient {
  readonly client: pg.PoolClient
  /** The error the connection died with while the client was held; undefined while it is alive. */
  readonly lost: Error | undefined
  /** Runs `work` on the client; if the connection died meanwhile, it fails with `PgConnectionLostError`. */
  run<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T>
  /**
   * Runs `work` in one transaction on the client: BEGIN, then COMMIT when `work` resolves or ROLLBACK
   * when anything fails (the error is re-thrown; `PgConnectionLostError` if the connection died, and a
   * client whose ROLLBACK failed is discarded).
   */
  transaction<T>(work: (client: pg.PoolClient) => Promise<T>, options?: TransactionOptions): Promise<T>
  /** Marks the client unfit for reuse (its session state is unknown): {@link CheckedOutClient.release} then destroys it. */
  discard(error: Error): void
  /** Hands the client back to the pool, which destroys it if it died or was discarded. Later calls do nothing. */
  release(): void
}

type Phase = 'begin' | 'work' | 'commit'

// A FATAL (or PANIC) error report ends the session: the server closes the connection right after it,
// so the holder learns of the loss from the failed query before the socket's end arrives.
const endsSession = (error: unknown): boolean => {
  const severity = typeof error === 'object' && error !== null ? (error as { severity?: unknown }).severity : undefined
  return severity === 'FATAL' || severity === 'PANIC'
}

/**
 * Checks a client out of `pool` and guards it while it is held. pg-pool listens for `error` on its
 * clients only while they are idle; a connection that dies while one is checked out (a server restart,
 * a terminated backend, a network failure) emits `error` on the client, and without a listener
 * node-postgres' event is an uncaught exception that ends the process. The guard records the error
 * instead, the holder's work fails with `PgConnectionLostError` (the connection's error as `cause`),
 * and release destroys the client rather than returning it to the pool.
 * @example
 * const held = await checkOut(pool)
 * try { await held.transaction(async (client) => { await client.query('INSERT …') }) } finally { held.release() }
 */
export async function checkOut(pool: pg.Pool): Promise<CheckedOutClient> {
  const client = await pool.connect()
  let lost: Error | undefined
  let broken: Error | undefined
  let released = false
  const onError = (error: Error): void => {
    lost ??= error
  }
  client.on('error', onError)

  const noteFatal = (error: unknown): void => {
    if (endsSession(error)) lost ??= error as Error
  }
  const failure = (error: unknown, phase?: Phase): unknown => {
    if (!lost) return error
    const what =
      phase === 'commit'
        ? 'during COMMIT: the transaction may or may not have committed'
        : phase
          ? 'while a transaction was open: the server rolled it back'
          : 'while the client was checked out'
    return new PgConnectionLostError(`The connection to PostgreSQL was lost ${what} (${lost.message})`, {
      cause: lost,
    })
  }
  const held: CheckedOutClient = {
    client,
    get lost() {
      return lost
    },
    async run(work) {
      try {
        return await work(client)
      } catch (error) {
        noteFatal(error)
        throw failure(error)
      }
    },
    transaction(work, options = {}) {
      return transact(client, work, options, async (error, phase) => {
        noteFatal(error)
        if (!lost && phase !== 'begin') await client.query('ROLLBACK').catch(held.discard)
        return failure(error, phase)
      })
    },
    discard(error) {
      broken ??= error
    },
    release() {
      if (released) return
      released = true
      client.off('error', onError)
      // With an error pg-pool ends the client instead of keeping it idle.
      client.release(lost ?? broken)
    },
  }
  return held
}

/**
 * @internal BEGIN, `work`, COMMIT; on a failure, `failed` (given the phase it happened in) rolls back
 * as it sees fit and returns the error to throw.
 */
export async function transact<T>(
  client: pg.PoolClient,
  work: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions,
  failed: (error: unknown, phase: Phase) => Promise<unknown>,
): Promise<T> {
  let phase: Phase = 'begin'
  try {
    await client.query(options.begin ?? 'BEGIN')
    phase = 'work'
    const result = await work(client)
    phase = 'commit'
    await client.query('COMMIT')
    return result
  } catch (error) {
    throw await failed(error, phase)
  }
}
