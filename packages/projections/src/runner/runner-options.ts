import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { EventStore, LogCheckpoint, Logger, LogWatcher, RecordedEvent } from '@annals/core'
import { type Backoff, type BackoffDefaults, integerOption, toBackoff, withLogFields } from '@annals/core/runtime'
import type { Pool } from 'pg'
import { pino } from 'pino'
import type { Registry } from 'prom-client'
import { ProjectionInvalidOptionError } from '../errors.js'
import type { AnyProjection } from '../projection.js'

/** Retry policy for a failing event: `maxAttempts` tries in all, waiting `initialDelayMs * 2^n` (capped) between. */
export type RetryOptions = Readonly<{
  /** Attempts per event before it is parked, the first one included. Default 5. */
  maxAttempts?: number
  /** Default 50 ms. */
  initialDelayMs?: number
  /** Default 5 s. */
  maxDelayMs?: number
}>

/** Hooks for tests and tracing. @internal */
export type RunnerHooks = Readonly<{
  /** Called before every sink commit (a test may pause the process here). */
  beforeCommit?: (
    info: Readonly<{ projection: string; generation: number; events: readonly RecordedEvent[] }>,
  ) => void | Promise<void>
}>

/** Options of `createProjectionRunner`. */
export type ProjectionRunnerOptions = Readonly<{
  /** Pool of the database that holds the projection tables (see `migrateProjections`). */
  pool: Pool
  /** Schema of the projection tables. Default `annals`. */
  schema?: string
  /** Prefix of the projection tables' names, as given to `migrateProjections`. Default none. */
  tablePrefix?: string
  /** Where events are read from (`readAll` must be gap-safe, e.g. the Postgres store). */
  store: EventStore
  /** Wake-ups when events are appended (e.g. `createPostgresLogWatcher`). Polling backs it up. */
  watcher?: LogWatcher
  projections: readonly AnyProjection[]
  /** Unique per process. Default `<hostname>:<pid>:<random>`. */
  workerId?: string
  /** Events per batch once caught up. Default 500. */
  batchSize?: number
  /** Events per batch while building a new generation or catching up. Default 2000. */
  rebuildBatchSize?: number
  /** Poll the log at least this often (a lost wake-up costs at most this much latency). Default 1000. */
  pollIntervalMs?: number
  /** Lease time to live; renewed every third of it. Default 10000. */
  leaseTtlMs?: number
  /** How often to look for rebuild and retry requests and publish status. Default 1000. */
  controlIntervalMs?: number
  retry?: RetryOptions
  /** Counts handled events after a checkpoint (for lag). Default: reads at most 1000 ahead. */
  countPending?: (after: LogCheckpoint, types: readonly string[]) => Promise<number>
  /** Stop gracefully on SIGTERM and SIGINT. Default false. */
  handleSignals?: boolean
  /**
   * Log one warning naming the fence's holder (pid, database, query) once the log's fence has held a
   * projection's events back this long. Default 30000.
   */
  stallWarningMs?: number
  /** Where the runner logs (a pino logger fits). Default: a pino logger named annals-projections. */
  logger?: Logger
  /** Prometheus registry to register the metrics in (default: a new one, see `runner.metrics`). */
  metricsRegistry?: Registry
  /** @internal */
  hooks?: RunnerHooks
}>

/** @internal Backoff defaults of a failing event's retries (see {@link RetryOptions}). */
export const RETRY_BACKOFF_DEFAULTS: BackoffDefaults = { initialDelayMs: 50, maxDelayMs: 5000, jitter: 'half' }

/**
 * @internal Backoff between failed steps of a projection loop (a database or sink outage): quick
 * first retries, then no more than one every 10 s.
 */
export const STEP_FAILURE_BACKOFF: Backoff = toBackoff(undefined, {
  initialDelayMs: 100,
  maxDelayMs: 10_000,
  jitter: 'half',
})

/** @internal How a failing event is retried before it is parked. */
export type RetryPolicy = Readonly<{ maxAttempts: number; delay: Backoff }>

/** @internal The runner's settings with every default applied. */
export type RunnerSettings = Readonly<{
  workerId: string
  batchSize: number
  rebuildBatchSize: number
  pollIntervalMs: number
  leaseTtlMs: number
  controlIntervalMs: number
  /** See {@link ProjectionRunnerOptions.stallWarningMs}. */
  stallWarningMs: number
  retry: RetryPolicy
  /** The runner's logger, every entry tagged with the worker id. */
  log: Logger
}>

const positiveInt = (name: string, value: number | undefined, fallback: number) =>
  integerOption(name, value, fallback, 1, (option, reason) => new ProjectionInvalidOptionError(option, reason))

/**
 * @internal Validates {@link RetryOptions} (`ANNALS_PROJ_ERR_INVALID_OPTION`) and builds the delay
 * function: exponential, jittered over the upper half so workers retrying together drift apart.
 */
export function retryPolicy(retry: RetryOptions | undefined): RetryPolicy {
  const maxAttempts = positiveInt('retry.maxAttempts', retry?.maxAttempts, 5)
  const initialDelayMs = positiveInt(
    'retry.initialDelayMs',
    retry?.initialDelayMs,
    RETRY_BACKOFF_DEFAULTS.initialDelayMs,
  )
  const maxDelayMs = positiveInt('retry.maxDelayMs', retry?.maxDelayMs, RETRY_BACKOFF_DEFAULTS.maxDelayMs)
  // A first delay above the cap has always meant "wait the cap", never an error: clamp it so core's
  // backoff (which rejects initial > max) keeps that.
  const delay = toBackoff({ initialDelayMs: Math.min(initialDelayMs, maxDelayMs), maxDelayMs }, RETRY_BACKOFF_DEFAULTS)
  return { maxAttempts, delay }
}

/** @internal Validates the options (`ANNALS_PROJ_ERR_INVALID_OPTION`) and applies the defaults. */
export function resolveRunnerSettings(options: ProjectionRunnerOptions): RunnerSettings {
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  return {
    workerId,
    batchSize: positiveInt('batchSize', options.batchSize, 500),
    rebuildBatchSize: positiveInt('rebuildBatchSize', options.rebuildBatchSize, 2000),
    pollIntervalMs: positiveInt('pollIntervalMs', options.pollIntervalMs, 1000),
    leaseTtlMs: positiveInt('leaseTtlMs', options.leaseTtlMs, 10_000),
    controlIntervalMs: positiveInt('controlIntervalMs', options.controlIntervalMs, 1000),
    stallWarningMs: positiveInt('stallWarningMs', options.stallWarningMs, 30_000),
    retry: retryPolicy(options.retry),
    log: withLogFields(options.logger ?? pino({ name: 'annals-projections' }), { worker: workerId }),
  }
}
