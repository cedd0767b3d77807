import { randomUUID } from 'node:crypto'
import type { EventPublisher, OutboundMessage } from '@annals/core'
import type { Pool, PoolClient } from 'pg'
import { type Logger, pino } from 'pino'
import { type BackoffPolicy, toBackoff } from './backoff.js'
import { AlreadyStartedError, InvalidOptionError, isPublishFailedError, PublishTimeoutError } from './errors.js'
import { type OutboxTableOptions, type OutboxTables, quoteIdentifier, resolveTables } from './names.js'
import { cleanupSentMessages } from './outbox-admin.js'
import type { OutboxMetrics } from './outbox-metrics.js'

/** A claimed outbox row on its way to the broker. */
export type RelayedMessage = OutboundMessage & Readonly<{ id: bigint; attempts: number }>

/** Options of {@link createOutboxRelay}. */
export type OutboxRelayOptions = OutboxTableOptions &
  Readonly<{
    pool: Pool
    publisher: EventPublisher
    /** Messages per publish call (roughly: at least one per claimed key). Default 100. */
    batchSize?: number
    /** Attempts before a message is dead. Default 10. */
    maxAttempts?: number
    /** Delay before each retry. Default exponential from 500 ms to 60 s with jitter. */
    backoff?: BackoffPolicy
    logger?: Logger
    /** Pause between polls when the last batch was not full. Default 200 ms. */
    pollIntervalMs?: number
    /** A publish call that takes longer counts as failed. Default 10 s. */
    publishTimeoutMs?: number
    /** Published rows are deleted this long after they were sent. Default 1 hour; 0 deletes at the next cleanup. */
    retentionMs?: number
    /**
     * A `LISTEN` channel that announces new outbox rows (for example the event store's append
     * notification): the polling loop wakes up at once instead of waiting for `pollIntervalMs`.
     * Polling still runs, so a missed notification only costs latency.
     */
    listenChannel?: string
    /** How often `start()`'s loop deletes old published rows. Default 60 s. */
    cleanupIntervalMs?: number
    metrics?: OutboxMetrics
    /** Names this relay in logs. Default a random id. */
    relayId?: string
    /**
     * Called after the broker acknowledged a batch and before the rows are marked sent (the
     * at-least-once window). For crash tests.
     * @internal
     */
    afterPublish?: (messages: readonly RelayedMessage[]) => void | Promise<void>
  }>

/** What one {@link OutboxRelay.runOnce} did. */
export type RelayBatchResult = Readonly<{
  /** Rows claimed (locked) for this batch. */
  claimed: number
  /** Rows the broker acknowledged and that are now marked sent. */
  published: number
  /** Rows whose attempt failed (retried later or dead). */
  failed: number
  /** Rows that became dead in this batch. */
  dead: number
}>

/** Moves outbox rows to the broker: claim, publish, mark sent, retry with backoff, dead-letter. */
export interface OutboxRelay {
  /** Claims and publishes one batch. */
  runOnce(): Promise<RelayBatchResult>
  /** Starts polling in the background. */
  start(): void
  /** Stops polling and waits for the batch in flight. */
  stop(): Promise<void>
}

type Row = {
  id: string
  message_id: string
  topic: string
  partition_key: string
  type: string
  payload: unknown
  headers: Record<string, string> | null
  attempts: number
  status: 'pending' | 'dead'
  due: boolean
}

type Failure = Readonly<{ message: RelayedMessage; error: unknown }>

function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new InvalidOptionError(name, `must be a positive integer, got ${value}`)
  return value
}

/**
 * Creates an outbox relay. Several relays (in several processes) may run against one outbox.
 *
 * Ordering: only the lowest unsent row of a partition key (its head) can be claimed, with
 * `FOR UPDATE SKIP LOCKED`, and the claiming transaction stays open while the batch is published, so
 * at most one relay publishes a key at a time; rows of a key behind its head ride along in id order.
 * A dead head blocks its key; other keys keep flowing.
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const tables = resolveTables(options)
  const pool = options.pool
  const publisher = options.publisher
  const batchSize = positive('batchSize', options.batchSize ?? 100)
  const maxAttempts = positive('maxAttempts', options.maxAttempts ?? 10)
  const backoff = toBackoff(options.backoff)
  const pollIntervalMs = options.pollIntervalMs ?? 200
  const publishTimeoutMs = positive('publishTimeoutMs', options.publishTimeoutMs ?? 10_000)
  const retentionMs = options.retentionMs ?? 3_600_000
  const cleanupIntervalMs = options.cleanupIntervalMs ?? 60_000
  // How many of the oldest due rows one claim looks at to find key heads.
  const scanWindow = Math.max(1000, batchSize * 4)
  const relayId = options.relayId ?? randomUUID()
  const logger = (options.logger ?? pino({ name: 'annals-outbox', level: 'warn' })).child({ relayId })
  // A relay that hangs (or is stopped by a debugger) while holding its claim is cut off by the
  // server, which releases the claim to the other relays.
  const idleTimeoutMs = Math.max(60_000, publishTimeoutMs * 4)

  let running: Promise<void> | undefined
  let stopping = false
  let wake: (() => void) | undefined
  let lastCleanup = 0
  // Set by a notification that arrives while a batch runs, so that the loop does not sleep past it.
  let woken = false
  let listener: PoolClient | undefined

  async function publishWithTimeout(messages: readonly RelayedMessage[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        publisher.publish(messages.map(toOutbound)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new PublishTimeoutError(publishTimeoutMs)), publishTimeoutMs)
        }),
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  async function runOnce(): Promise<RelayBatchResult> {
    const client = await pool.connect()
    const onError = (error: Error) => logger.warn({ err: error }, 'outbox relay connection failed')
    client.on('error', onError)
    let broken: Error | undefined
    try {
      await client.query('BEGIN')
      try {
        const result = await claimAndPublish(client, tables)
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      }
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error))
      throw error
    } finally {
      client.off('error', onError)
      // A failed connection must not go back to the pool.
      client.release(broken)
    }
  }

  async function claimAndPublish(client: PoolClient, t: OutboxTables): Promise<RelayBatchResult> {
    await client.query(`SELECT set_config('idle_in_transaction_session_timeout', $1, true)`, [String(idleTimeoutMs)])
    // Heads only: a row with an unsent (pending or dead) row of the same key before it is not eligible.
    // The scan looks at a bounded window of the oldest due rows so that a few keys with long backlogs
    // do not make every claim walk the whole backlog; rows of keys held back by a dead or retrying
    // head are left out of the window, so they cannot crowd out the keys that can flow.
    const heads = await client.query<{ id: string; partition_key: string }>(
      `SELECT o.id, o.partition_key
         FROM ${t.outbox} o
        WHERE o.id = ANY (ARRAY(
                SELECT c.id
                  FROM (SELECT DISTINCT ON (w.partition_key) w.id, w.partition_key
                          FROM (SELECT x.id, x.partition_key
                                  FROM ${t.outbox} x
                                 WHERE x.status = 'pending' AND x.next_attempt_at <= now()
                                   AND x.partition_key NOT IN (
                                         SELECT b.partition_key FROM ${t.outbox} b
                                          WHERE b.status <> 'sent' AND b.attempts > 0
                                            AND (b.status = 'dead' OR b.next_attempt_at > now()))
                                 ORDER BY x.id
                                 LIMIT $2) w
                         ORDER BY w.partition_key, w.id) c
                 -- The earliest window row of each key is its head unless an unsent row precedes it. The
                 -- row comparison can only be answered by the (partition_key, id) index of unsent rows,
                 -- whose entries of sent rows die and get skipped, never by walking the primary key
                 -- through every row sent before.
                 WHERE NOT EXISTS (SELECT 1 FROM ${t.outbox} e
                                    WHERE e.partition_key = c.partition_key AND e.status <> 'sent'
                                      AND (e.partition_key, e.id) < (c.partition_key, c.id))))
          AND o.status = 'pending' AND o.next_attempt_at <= now()
        ORDER BY o.id
        -- The limit applies after skipping heads other relays hold, so a second relay takes the next
        -- keys instead of finding the first batchSize heads all locked.
        LIMIT $1
          FOR UPDATE SKIP LOCKED`,
      [batchSize, scanWindow],
    )
    if (heads.rows.length === 0) return { claimed: 0, published: 0, failed: 0, dead: 0 }
    // Holding a key's head locks the key: every other relay skips it, so the rows behind it are ours too.
    const perKey = Math.max(1, Math.ceil(batchSize / heads.rows.length))
    const rows = await client.query<Row>(
      `SELECT o.id, o.message_id, o.topic, o.partition_key, o.type, o.payload, o.headers, o.attempts, o.status,
              o.next_attempt_at <= now() AS due
         FROM unnest($1::text[], $2::bigint[]) AS h(key, head_id)
        CROSS JOIN LATERAL (
              SELECT * FROM ${t.outbox} x
               WHERE x.partition_key = h.key AND x.id >= h.head_id AND x.status <> 'sent'
               ORDER BY x.id
               LIMIT $3) o
        ORDER BY o.id`,
      [heads.rows.map((h) => h.partition_key), heads.rows.map((h) => h.id), perKey],
    )
    const blocked = new Set<string>()
    const batch: RelayedMessage[] = []
    for (const row of rows.rows) {
      if (blocked.has(row.partition_key)) continue
      if (row.status !== 'pending' || !row.due) {
        blocked.add(row.partition_key)
        continue
      }
      batch.push(fromRow(row))
    }
    const started = performance.now()
    const { sent, failures } = await publishBatch(batch)
    if (sent.length > 0 && options.afterPublish) await options.afterPublish(sent)
    if (sent.length > 0) {
      await client.query(`UPDATE ${t.outbox} SET status = 'sent', sent_at = now() WHERE id = ANY($1::bigint[])`, [
        sent.map((m) => m.id.toString()),
      ])
    }
    let dead = 0
    if (failures.length > 0) {
      const attempts = failures.map((f) => f.message.attempts + 1)
      dead = attempts.filter((a) => a >= maxAttempts).length
      await client.query(
        `UPDATE ${t.outbox} o
            SET attempts = f.attempts,
                last_error = f.error,
                last_attempt_at = now(),
                status = CASE WHEN f.attempts >= $4 THEN 'dead' ELSE 'pending' END,
                dead_at = CASE WHEN f.attempts >= $4 THEN now() ELSE NULL END,
                next_attempt_at = now() + (f.delay_ms * interval '1 millisecond')
           FROM unnest($1::bigint[], $2::int[], $3::text[], $5::bigint[]) AS f(id, attempts, error, delay_ms)
          WHERE o.id = f.id`,
        [
          failures.map((f) => f.message.id.toString()),
          attempts,
          failures.map((f) => errorText(f.error)),
          maxAttempts,
          attempts.map((a) => Math.max(0, Math.round(backoff(a)))),
        ],
      )
      for (const [i, f] of failures.entries()) {
        const level = (attempts[i] ?? 0) >= maxAttempts ? 'error' : 'warn'
        logger[level](
          { err: f.error, messageId: f.message.messageId, partitionKey: f.message.partitionKey, attempt: attempts[i] },
          level === 'error' ? 'outbox message is dead' : 'outbox publish failed, will retry',
        )
      }
    }
    if (options.metrics) {
      for (const m of sent) options.metrics.published.inc({ topic: m.topic })
      options.metrics.failures.inc(failures.length)
      options.metrics.dead.inc(dead)
      options.metrics.batchSeconds.observe((performance.now() - started) / 1000)
    }
    return { claimed: batch.length, published: sent.length, failed: failures.length, dead }
  }

  /** Publishes the batch; on failure, finds out which messages are to blame without breaking key order. */
  async function publishBatch(
    batch: readonly RelayedMessage[],
  ): Promise<{ sent: RelayedMessage[]; failures: Failure[] }> {
    try {
      await publishWithTimeout(batch)
      return { sent: [...batch], failures: [] }
    } catch (error) {
      if (isPublishFailedError(error) && error.messageIds.length > 0) {
        // The publisher says exactly which messages it could not deliver; the rest were acknowledged.
        const failed = new Set(error.messageIds)
        return {
          sent: batch.filter((m) => !failed.has(m.messageId)),
          failures: batch.filter((m) => failed.has(m.messageId)).map((message) => ({ message, error })),
        }
      }
      if (batch.length === 1) return { sent: [], failures: batch.map((message) => ({ message, error })) }
      return isolate(batch, error)
    }
  }

  /**
   * Publishes one message at a time, in id order, so that a poison message fails alone: its key stops
   * there (later rows of the key stay pending, untouched) and other keys go on. When the first few
   * tries all fail, the broker itself is failing: charge one attempt to each key's head and stop.
   */
  async function isolate(
    batch: readonly RelayedMessage[],
    batchError: unknown,
  ): Promise<{ sent: RelayedMessage[]; failures: Failure[] }> {
    const sent: RelayedMessage[] = []
    const failures: Failure[] = []
    const failedKeys = new Set<string>()
    for (const message of batch) {
      if (failedKeys.has(message.partitionKey)) continue
      if (sent.length === 0 && failures.length >= 3) {
        for (const rest of batch) {
          if (failedKeys.has(rest.partitionKey)) continue
          failedKeys.add(rest.partitionKey)
          failures.push({ message: rest, error: batchError })
        }
        break
      }
      try {
        await publishWithTimeout([message])
        sent.push(message)
      } catch (error) {
        failedKeys.add(message.partitionKey)
        failures.push({ message, error })
      }
    }
    return { sent, failures }
  }

  async function cleanupIfDue(): Promise<void> {
    const now = Date.now()
    if (now - lastCleanup < cleanupIntervalMs) return
    lastCleanup = now
    const { deleted } = await cleanupSentMessages({ ...tablesOf(options), pool, olderThanMs: retentionMs })
    if (deleted > 0) logger.debug({ deleted }, 'deleted published outbox rows')
  }

  async function listen(channel: string): Promise<void> {
    try {
      const client = await pool.connect()
      if (stopping) {
        client.release()
        return
      }
      listener = client
      client.on('error', (error) => logger.warn({ err: error }, 'outbox relay LISTEN connection failed; polling only'))
      client.on('notification', () => {
        woken = true
        wake?.()
      })
      await client.query(`LISTEN ${quoteIdentifier(channel)}`)
    } catch (error) {
      logger.warn({ err: error, channel }, 'outbox relay could not LISTEN; polling only')
    }
  }

  async function loop(): Promise<void> {
    let errors = 0
    while (!stopping) {
      let full = false
      try {
        const result = await runOnce()
        full = result.claimed >= batchSize
        errors = 0
        await cleanupIfDue()
      } catch (error) {
        errors += 1
        logger.error({ err: error }, 'outbox relay batch failed')
      }
      if (stopping) break
      if (woken && errors === 0) full = true
      woken = false
      if (!full || errors > 0) {
        const delay = errors > 0 ? Math.min(10_000, pollIntervalMs * 2 ** Math.min(errors, 6)) : pollIntervalMs
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay)
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        wake = undefined
      }
    }
  }

  return {
    runOnce,
    start() {
      if (running) throw new AlreadyStartedError('The outbox relay')
      stopping = false
      running = Promise.all([loop(), options.listenChannel ? listen(options.listenChannel) : undefined]).then(
        () => undefined,
      )
    },
    async stop() {
      stopping = true
      wake?.()
      const l = listener
      listener = undefined
      l?.release(true)
      await running
      running = undefined
    },
  }
}

function tablesOf(options: OutboxTableOptions): OutboxTableOptions {
  return { schema: options.schema ?? 'annals', tablePrefix: options.tablePrefix ?? '' }
}

function fromRow(row: Row): RelayedMessage {
  return {
    id: BigInt(row.id),
    attempts: row.attempts,
    messageId: row.message_id,
    topic: row.topic,
    partitionKey: row.partition_key,
    type: row.type,
    payload: row.payload,
    headers: row.headers ?? {},
  }
}

function toOutbound(m: RelayedMessage): OutboundMessage {
  return {
    messageId: m.messageId,
    topic: m.topic,
    partitionKey: m.partitionKey,
    type: m.type,
    payload: m.payload,
    headers: m.headers,
  }
}
