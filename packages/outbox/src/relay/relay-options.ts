import { randomUUID } from 'node:crypto'
import {
  type BackoffPolicy,
  CoreErrorCodes,
  type EventPublisher,
  isAnnalsError,
  type Logger,
  type LogWatcher,
} from '@annals/core'
import { type Backoff, toBackoff } from '@annals/core/runtime'
import type { TableLocation } from '@annals/store-postgres/sql'
import type { Pool } from 'pg'
import { OutboxInvalidOptionError } from '../errors.js'
import { positiveOption } from '../options.js'
import type { OutboxMetrics } from '../outbox-metrics.js'
import type { RelayedMessage } from './claim-batch.js'

/** Options of {@link createOutboxRelay}. */
export type OutboxRelayOptions = TableLocation &
  Readonly<{
    pool: Pool
    publisher: EventPublisher
    /** Messages per publish call (roughly: at least one per claimed key). Default 100. */
    batchSize?: number
    /**
     * Batches `start()`'s loop keeps in flight: it claims the next batch (other keys) while earlier ones
     * are published and marked sent. Each batch holds one pooled connection until it commits, so give the
     * pool at least this many plus one. Order per key does not depend on it. Default 2; 1 runs one batch
     * at a time.
     */
    pipelineDepth?: number
    /** Attempts before a message is dead. Default 10. */
    maxAttempts?: number
    /** Delay before each retry. Default exponential from 500 ms to 60 s with half jitter. */
    backoff?: BackoffPolicy
    /** Default: silent. */
    logger?: Logger
    /** Pause between polls when the last batch was not full. Default 200 ms. */
    pollIntervalMs?: number
    /** A publish call that takes longer counts as failed. Default 10 s. */
    publishTimeoutMs?: number
    /**
     * Published rows are deleted this long after they were sent. Default 1 hour. 0 deletes each row in
     * the transaction that would mark it sent, which roughly halves the relay's database work.
     */
    retentionMs?: number
    /**
     * Announces appends (for example `createPostgresLogWatcher` of `@annals/store-postgres` on the same
     * schema): the loop wakes up at once instead of waiting for `pollIntervalMs`. Polling still runs, so
     * a missed wake-up only costs latency. The relay never closes it.
     */
    watcher?: LogWatcher
    /** How often `start()`'s loop deletes old published rows. Default 60 s. */
    cleanupIntervalMs?: number
    metrics?: OutboxMetrics
    /** Names this relay in logs. Default a random id. */
    relayId?: string
    /** Stop gracefully on SIGTERM and SIGINT while running. Default false. */
    handleSignals?: boolean
    /**
     * Called after the broker acknowledged a batch and before the rows are marked sent (the
     * at-least-once window). For crash tests.
     * @internal
     */
    afterPublish?: (messages: readonly RelayedMessage[]) => void | Promise<void>
  }>

/** The relay's settings with every default applied and every range checked. @internal */
export type RelaySettings = Readonly<{
  batchSize: number
  pipelineDepth: number
  maxAttempts: number
  backoff: Backoff
  pollIntervalMs: number
  publishTimeoutMs: number
  retentionMs: number
  cleanupIntervalMs: number
  /** How many of the oldest due rows one claim looks at to find key heads. */
  scanWindow: number
  /**
   * A relay that hangs (or is stopped by a debugger) while holding its claim is cut off by the
   * server after this long, which releases the claim to the other relays.
   */
  idleTimeoutMs: number
  relayId: string
}>

/** Applies the defaults of {@link OutboxRelayOptions}; an out-of-range value is an `OutboxInvalidOptionError`. @internal */
export function resolveRelaySettings(options: Omit<OutboxRelayOptions, 'pool' | 'publisher'>): RelaySettings {
  const batchSize = positiveOption('batchSize', options.batchSize, 100)
  const publishTimeoutMs = positiveOption('publishTimeoutMs', options.publishTimeoutMs, 10_000)
  return {
    batchSize,
    pipelineDepth: positiveOption('pipelineDepth', options.pipelineDepth, 2),
    maxAttempts: positiveOption('maxAttempts', options.maxAttempts, 10),
    backoff: relayBackoff(options.backoff),
    pollIntervalMs: options.pollIntervalMs ?? 200,
    publishTimeoutMs,
    retentionMs: options.retentionMs ?? 3_600_000,
    cleanupIntervalMs: options.cleanupIntervalMs ?? 60_000,
    scanWindow: Math.max(1000, batchSize * 4),
    idleTimeoutMs: Math.max(60_000, publishTimeoutMs * 4),
    relayId: options.relayId ?? randomUUID(),
  }
}

// Core checks the policy; a bad one is reported as this package's option error, like every other option.
function relayBackoff(policy: BackoffPolicy | undefined): Backoff {
  try {
    return toBackoff(policy, { initialDelayMs: 500, maxDelayMs: 60_000, jitter: 'half' })
  } catch (error) {
    if (!isAnnalsError(error, CoreErrorCodes.INVALID_ARGUMENT)) throw error
    const option = (error as { argument?: string }).argument ?? 'backoff'
    throw new OutboxInvalidOptionError(option, error.message.replace(/^Invalid [^:]*: /, ''), { cause: error })
  }
}
