import type { LogWatcher, PartialLogger } from '@annals/core'
import { toBackoff, toLogger } from '@annals/core/runtime'
import pg from 'pg'
import { PgInvalidOptionError } from './errors.js'
import { type CheckedOutClient, checkOut } from './sql/check-out.js'
import type { PgliteLike } from './sql/executor.js'
import { quoteIdentifier } from './sql/identifiers.js'
import { storeTables } from './store-tables.js'

/** Options of {@link createPostgresLogWatcher}. */
export type PostgresLogWatcherOptions = Readonly<{
  /** Where the dedicated LISTEN connection comes from: its own client from `connectionString`, or one held from `pool`. */
  pool?: pg.Pool
  connectionString?: string
  pglite?: PgliteLike
  schema?: string
  tablePrefix?: string
  /** Delay before reconnecting after the connection died (doubles up to 30 s). Default 100 ms. */
  reconnectDelayMs?: number
  /**
   * How often the LISTEN connection is probed with `SELECT 1` (0: never). Default 30 s. A peer that
   * vanished without closing the socket (a dropped NAT entry, a frozen server) sends neither an error
   * nor an end, so without a probe the watcher would wait, silent, for TCP to give up.
   */
  heartbeatMs?: number
  /** A probe that has not answered within this time counts as a lost connection. Default 10 s. */
  heartbeatTimeoutMs?: number
  /** Where reconnects and failures are logged (pino fits). Default silent. */
  logger?: PartialLogger
}>

/** The LISTEN-based watcher, with a connection state for health checks. */
export interface PostgresLogWatcher extends LogWatcher {
  /** True while the LISTEN connection is up. */
  readonly connected: boolean
  /** Resolves once the first LISTEN is in place. */
  ready(): Promise<void>
}

/**
 * Creates a log watcher: LISTEN on a dedicated connection for the store's append notifications. When
 * the connection dies (network, `pg_terminate_backend`) it reconnects, LISTENs again and wakes every
 * listener, because notifications sent while it was down are lost: the reader must catch up by reading.
 * On PGlite it uses PGlite's in-process `listen`.
 */
export function createPostgresLogWatcher(options: PostgresLogWatcherOptions): PostgresLogWatcher {
  const names = storeTables(options)
  const logger = toLogger(options.logger)
  const reconnectDelay = toBackoff(
    { initialDelayMs: options.reconnectDelayMs ?? 100, jitter: 'none' },
    { initialDelayMs: 100, maxDelayMs: 30_000 },
  )
  const heartbeatMs = options.heartbeatMs ?? 30_000
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 10_000
  for (const [name, value] of [
    ['heartbeatMs', heartbeatMs],
    ['heartbeatTimeoutMs', heartbeatTimeoutMs],
  ] as const) {
    if (!Number.isInteger(value) || value < 0) throw new PgInvalidOptionError(name, 'must be an integer >= 0')
  }
  if (!options.pool && !options.connectionString && !options.pglite) {
    throw new PgInvalidOptionError('pool', 'give pool, connectionString or pglite')
  }
  const listeners = new Set<() => void>()
  let closed = false
  let connected = false
  // `held`: the checkout when the connection came from the pool.
  let current: { client: pg.Client | pg.PoolClient; held: CheckedOutClient | undefined } | null = null
  let unlistenPglite: (() => Promise<void>) | null = null
  let timer: NodeJS.Timeout | null = null
  let heartbeat: NodeJS.Timeout | null = null
  // Failed connection attempts in a row: the reconnect delay doubles with each, up to 30 s.
  let failedAttempts = 0
  let firstReady: () => void = () => undefined
  const readyPromise = new Promise<void>((resolve) => {
    firstReady = resolve
  })
  let everConnected = false

  const wake = () => {
    for (const listener of listeners) {
      try {
        listener()
      } catch (error) {
        logger.warn({ err: error }, 'log watcher listener threw')
      }
    }
  }

  async function connect(): Promise<void> {
    if (closed) return
    if (options.pglite) {
      unlistenPglite = await options.pglite.listen(names.channel, wake)
      connected = true
      firstReady()
      return
    }
    let client: pg.Client | pg.PoolClient | null = null
    let held: CheckedOutClient | undefined
    try {
      if (options.connectionString) {
        client = new pg.Client({
          connectionString: options.connectionString,
          application_name: 'annals-log-watcher',
          keepAlive: true,
        })
        client.on('error', (error) => lost(client, error))
        await client.connect()
      } else {
        held = await checkOut(options.pool as pg.Pool)
        client = held.client
        client.on('error', (error) => lost(client, error))
      }
      client.on('end', () => lost(client, new Error('connection ended')))
      client.on('notification', () => wake())
      await client.query(`LISTEN ${quoteIdentifier(names.channel)}`)
      if (closed) {
        release(client, held, undefined)
        return
      }
      current = { client, held }
      connected = true
      failedAttempts = 0
      startHeartbeat(client)
      firstReady()
      if (everConnected) {
        logger.info({ channel: names.channel }, 'log watcher reconnected')
        // Notifications sent while the connection was down are lost: wake readers so they read.
        wake()
      }
      everConnected = true
    } catch (error) {
      if (client) release(client, held, error as Error)
      logger.warn({ err: error, channel: names.channel }, 'log watcher could not LISTEN; retrying')
      schedule()
    }
  }

  function startHeartbeat(client: pg.Client | pg.PoolClient): void {
    if (heartbeatMs === 0) return
    const probe = async () => {
      heartbeat = null
      if (closed || current?.client !== client) return
      let deadline: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          client.query('SELECT 1'),
          new Promise((_, reject) => {
            deadline = setTimeout(() => reject(new Error('heartbeat timed out')), heartbeatTimeoutMs)
          }),
        ])
      } catch (error) {
        lost(client, error as Error)
        return
      } finally {
        clearTimeout(deadline)
      }
      if (!closed && current?.client === client) {
        heartbeat = setTimeout(probe, heartbeatMs)
        heartbeat.unref?.()
      }
    }
    heartbeat = setTimeout(probe, heartbeatMs)
    heartbeat.unref?.()
  }

  function release(
    client: pg.Client | pg.PoolClient,
    held: CheckedOutClient | undefined,
    error: Error | undefined,
  ): void {
    client.removeAllListeners('notification')
    client.removeAllListeners('end')
    // Keep an error listener: a late socket error on a dropped client must not crash the process.
    client.removeAllListeners('error')
    client.on('error', () => undefined)
    if (held) {
      // A connection that LISTENed is never reused: the pool destroys it.
      held.discard(error ?? new Error('LISTEN connection closed'))
      held.release()
    } else {
      void (client as pg.Client).end().catch(() => undefined)
    }
  }

  function lost(client: pg.Client | pg.PoolClient | null, error: Error): void {
    if (!client || current?.client !== client) return
    const { held } = current
    current = null
    connected = false
    if (heartbeat) clearTimeout(heartbeat)
    heartbeat = null
    release(client, held, error)
    if (closed) return
    logger.warn({ err: error, channel: names.channel }, 'log watcher lost its LISTEN connection; reconnecting')
    schedule()
  }

  function schedule(): void {
    if (closed || timer) return
    timer = setTimeout(() => {
      timer = null
      void connect()
    }, reconnectDelay(++failedAttempts))
    timer.unref?.()
  }

  void connect()

  return {
    get connected() {
      return connected
    },
    ready: () => readyPromise,
    onWake(listener: () => void): () => void {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async close(): Promise<void> {
      closed = true
      listeners.clear()
      if (timer) clearTimeout(timer)
      timer = null
      if (heartbeat) clearTimeout(heartbeat)
      heartbeat = null
      connected = false
      firstReady()
      if (unlistenPglite) await unlistenPglite()
      const listening = current
      current = null
      if (listening) {
        try {
          await listening.client.query(`UNLISTEN ${quoteIdentifier(names.channel)}`)
        } catch {
          // The connection may already be gone; it is released either way.
        }
        release(listening.client, listening.held, undefined)
      }
    },
  }
}
