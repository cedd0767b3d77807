import { silentLogger, type Worker } from '@annals/core'
import { createWaiter, createWorkerLifecycle, toBackoff } from '@annals/core/runtime'
import { outboxTables } from '@annals/store-postgres/outbox'
import { withTransaction } from '@annals/store-postgres/sql'
import type { PoolClient } from 'pg'
import { OutboxAlreadyStartedError } from '../errors.js'
import { cleanupSentMessages } from '../outbox-admin.js'
import { claimBatch, type RelayedMessage } from './claim-batch.js'
import { publishBatch } from './publish-batch.js'
import { markSent, recordFailures } from './record-outcome.js'
import { type OutboxRelayOptions, resolveRelaySettings } from './relay-options.js'

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
export interface OutboxRelay extends Worker {
  /** Claims and publishes one batch, and resolves once it is committed (no pipelining). */
  runOnce(): Promise<RelayBatchResult>
}

const NOTHING: RelayBatchResult = { claimed: 0, published: 0, failed: 0, dead: 0 }

/**
 * Creates an outbox relay. Several relays (in several processes) may run against one outbox.
 *
 * Ordering: only the lowest unsent row of a partition key (its head) can be claimed, with
 * `FOR UPDATE SKIP LOCKED`, and the claiming transaction stays open while the batch is published, so
 * at most one relay publishes a key at a time; rows of a key behind its head ride along in id order.
 * A dead head blocks its key; other keys keep flowing. `start()`'s loop keeps up to `pipelineDepth`
 * batches in flight, each in its own transaction; the next claim skips the keys earlier ones hold.
 * @example
 * const relay = createOutboxRelay({ pool, schema: 'app', publisher, watcher: createPostgresLogWatcher({ pool, schema: 'app' }) })
 * await relay.start()
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const tables = outboxTables(options)
  const location = { schema: tables.schema, tablePrefix: tables.tablePrefix }
  const { pool, publisher, metrics } = options
  const settings = resolveRelaySettings(options)
  const { pipelineDepth, relayId } = settings
  const logger = options.logger ?? silentLogger
  // Folded into the BEGIN (one round trip): a relay that hangs while holding its claim is cut off by the
  // server, which releases its keys. The value is a validated integer, so it can be inlined.
  const begin = `BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${settings.idleTimeoutMs}`

  let running: Promise<void> | undefined
  const waiter = createWaiter()
  // After a failed batch: the poll interval doubled per failure in a row, at most 64 times, at most 10 s.
  const errorDelay = toBackoff(
    {
      initialDelayMs: Math.min(10_000, settings.pollIntervalMs * 2),
      maxDelayMs: Math.min(10_000, settings.pollIntervalMs * 64),
    },
    { initialDelayMs: 0, maxDelayMs: 0, jitter: 'none' },
  )
  let unsubscribe: (() => void) | undefined
  let lastCleanup = 0
  // Set by a wake-up that arrives while the loop is busy, so that it does not sleep past it.
  let woken = false

  async function runOnce(): Promise<RelayBatchResult> {
    const flight = await claimFlight([])
    return flight === null ? NOTHING : flight.done
  }

  /**
   * Opens a batch's transaction and claims; resolves once the claim is made (`null` when it found
   * nothing, the transaction then already closed), while `done` goes on to publish, mark and commit.
   */
  function claimFlight(heldKeys: readonly string[]): Promise<Flight | null> {
    return new Promise((claimed, failedToClaim) => {
      let isClaimed = false
      const done = withTransaction(
        pool,
        async (client) => {
          const batch = await claimBatch(client, tables, { ...settings, heldKeys })
          isClaimed = true
          if (batch.length === 0) {
            claimed(null)
            return NOTHING
          }
          claimed({ keys: [...new Set(batch.map((m) => m.partitionKey))], done })
          return publishAndRecord(client, batch)
        },
        { begin },
      )
      done.catch((error: unknown) => {
        // After the claim, the caller handles `done` itself.
        if (!isClaimed) failedToClaim(error)
      })
    })
  }

  async function publishAndRecord(client: PoolClient, batch: readonly RelayedMessage[]): Promise<RelayBatchResult> {
    const started = performance.now()
    const { sent, failures } = await publishBatch(publisher, batch, settings.publishTimeoutMs)
    if (sent.length > 0 && options.afterPublish) await options.afterPublish(sent)
    await markSent(client, tables, sent, settings.retentionMs > 0)
    const recorded = await recordFailures(client, tables, failures, settings)
    for (const f of recorded) {
      const fields = {
        relayId,
        err: f.error,
        messageId: f.message.messageId,
        partitionKey: f.message.partitionKey,
        attempt: f.attempt,
      }
      if (f.dead) logger.error(fields, 'outbox message is dead')
      else logger.warn(fields, 'outbox publish failed, will retry')
    }
    const dead = recorded.filter((f) => f.dead).length
    if (metrics) {
      for (const m of sent) metrics.published.inc({ topic: m.topic })
      metrics.failures.inc(failures.length)
      metrics.dead.inc(dead)
      metrics.batchSeconds.observe((performance.now() - started) / 1000)
    }
    return { claimed: batch.length, published: sent.length, failed: failures.length, dead }
  }

  async function cleanupIfDue(): Promise<void> {
    const now = Date.now()
    if (now - lastCleanup < settings.cleanupIntervalMs) return
    lastCleanup = now
    const { deleted } = await cleanupSentMessages({ ...location, pool, olderThanMs: settings.retentionMs })
    if (deleted > 0) logger.debug({ relayId, deleted }, 'deleted published outbox rows')
  }

  // Claims run one after another, so that each knows the keys the batches before it hold; publishing and
  // marking overlap. Order per key needs nothing more: a batch holds its keys' heads until it has
  // committed what the broker acknowledged, and every claim skips locked heads.
  async function loop(): Promise<void> {
    const inFlight = new Map<Promise<void>, readonly string[]>()
    const heldKeys = () => [...inFlight.values()].flat()
    let errors = 0
    const fail = (error: unknown) => {
      errors += 1
      logger.error({ relayId, err: error }, 'outbox relay batch failed')
    }
    while (!lifecycle.stopping) {
      if (inFlight.size >= pipelineDepth) {
        await Promise.race(inFlight.keys())
        continue
      }
      let flight: Flight | null = null
      try {
        flight = await claimFlight(heldKeys())
        await cleanupIfDue()
      } catch (error) {
        fail(error)
      }
      if (flight !== null) {
        const tracked: Promise<void> = flight.done
          .then(() => {
            errors = 0
          }, fail)
          .finally(() => inFlight.delete(tracked))
        inFlight.set(tracked, flight.keys)
        continue
      }
      if (errors === 0 && inFlight.size > 0) {
        // Nothing to claim while other batches run: the keys they hold come free when one commits.
        await Promise.race(inFlight.keys())
        continue
      }
      if (lifecycle.stopping) break
      const skipWait = woken && errors === 0
      woken = false
      if (!skipWait) await waiter.wait(errors > 0 ? errorDelay(errors) : settings.pollIntervalMs)
    }
    await Promise.all(inFlight.keys())
  }

  const lifecycle = createWorkerLifecycle({
    alreadyStarted: () => new OutboxAlreadyStartedError('The outbox relay'),
    handleSignals: options.handleSignals ?? false,
    onStart() {
      woken = false
      unsubscribe = options.watcher?.onWake(() => {
        woken = true
        waiter.interrupt()
      })
      running = loop()
    },
    async onStop() {
      unsubscribe?.()
      unsubscribe = undefined
      waiter.wake()
      await running
      running = undefined
    },
  })

  return {
    runOnce,
    start: () => lifecycle.start(),
    stop: () => lifecycle.stop(),
    whenStopped: () => lifecycle.whenStopped(),
  }
}

/** A claimed batch: the keys whose heads it holds, and its publish, mark and commit. */
type Flight = Readonly<{ keys: readonly string[]; done: Promise<RelayBatchResult> }>
