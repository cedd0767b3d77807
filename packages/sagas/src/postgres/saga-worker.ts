import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import {
  type BackoffPolicy,
  type EventStore,
  type IdempotencyStore,
  type Logger,
  type LogWatcher,
  type RetryPolicy,
  type SnapshotStore,
  silentLogger,
  type Worker,
} from '@annals/core'
import { createWorkerLifecycle, integerOption, toBackoff, withLogFields } from '@annals/core/runtime'
import {
  type AnyProjection,
  createProjectionRunner,
  migrateProjections,
  type ProjectionRunner,
} from '@annals/projections'
import type { Pool } from 'pg'
import { createSagaEngine } from '../engine/saga-engine.js'
import type { SagaEngine, SagaHooks, StartSagaOptions, StartSagaResult } from '../engine/saga-engine-types.js'
import { InvalidSagaOptionError, SagaWorkerAlreadyStartedError } from '../errors.js'
import type { AnyReactor } from '../reactor.js'
import type { AnySagaDefinition, SagaDefinition } from '../saga-definition.js'
import { migrateSagas } from './migrate-sagas.js'
import { createReactorProjection } from './reactor-projection.js'
import {
  type ClaimedInstance,
  claimDueInstances,
  ensureInstanceRow,
  recordDriveFailed,
  recordDriven,
  renewInstanceLocks,
} from './saga-instances.js'
import { createSagaRouter } from './saga-router.js'
import { sagaTables } from './saga-tables.js'

/** Options of {@link createSagaWorker}. */
export type SagaWorkerOptions = Readonly<{
  /** The database of the saga tables and the projection tables (usually the event store's). */
  pool: Pool
  /** Schema of the saga tables. Default `annals`. */
  schema?: string
  /** Prefix of the saga tables' names, as given to `migrateSagas`. Default none. */
  tablePrefix?: string
  /** The event store: the steps' aggregates and the sagas' own streams live in it. */
  store: EventStore
  /** Wake-ups on appends (e.g. `createPostgresLogWatcher`); polling backs it up. */
  watcher?: LogWatcher
  sagas: readonly AnySagaDefinition[]
  /** Choreography reactors to run in this worker (each a checkpointed projection). */
  reactors?: readonly AnyReactor[]
  idempotency?: IdempotencyStore
  snapshots?: SnapshotStore
  /** Retries of the command handlers on version conflicts. */
  retry?: RetryPolicy
  /** Unique per process. Default `<hostname>:<pid>:<random>`. */
  workerId?: string
  /** Look for due instances at least this often. Default 500 ms. */
  pollIntervalMs?: number
  /** How long a claimed instance stays reserved for this worker (renewed every third of it while driven). Default 30000 ms. */
  lockTtlMs?: number
  /** Instances driven at once. Default 8. */
  concurrency?: number
  /**
   * Wait before retrying an instance whose drive failed (database down…), by failed attempt. Default
   * `{ initialDelayMs: 200, maxDelayMs: maxBackoffMs, jitter: 'none' }` (200 ms, doubling).
   */
  backoff?: BackoffPolicy
  /** Longest wait of the default `backoff`. Default 30000 ms. */
  maxBackoffMs?: number
  /** Run `migrateSagas` and `migrateProjections` on start. Default true. */
  migrate?: boolean
  /** The log subscriptions (saga router and reactors) run on the projection runner. */
  subscriptions?: Readonly<{
    /** Schema of the projection tables (checkpoints, leases, dead letters). Default `annals`. */
    schema?: string
    /** Prefix of the projection tables' names, as given to `migrateProjections`. Default none. */
    tablePrefix?: string
    /** Name of the router projection (unique per projection schema). Default `sagas.router`. */
    routerName?: string
    pollIntervalMs?: number
    leaseTtlMs?: number
    batchSize?: number
  }>
  /** Where the worker logs (a pino logger fits). Default: nothing is logged. */
  logger?: Logger
  /** Stop gracefully on SIGTERM and SIGINT. Default false. */
  handleSignals?: boolean
  /** @internal */
  hooks?: SagaHooks
}>

/** A saga worker: drives instances from the `saga_instances` queue and routes log events to them. */
export interface SagaWorker extends Worker {
  readonly workerId: string
  readonly engine: SagaEngine
  /** The projection runner hosting the router and the reactors (for status and metrics). */
  readonly subscriptions: ProjectionRunner
  /** Finishes the drives in flight and the subscription batch, then resolves. */
  stop(): Promise<void>
  /** Starts an instance and queues it for this (or any) worker. */
  startSaga<In, I>(saga: SagaDefinition<In, I>, input: In, options?: StartSagaOptions): Promise<StartSagaResult>
  /** Look for due instances now. */
  wake(): void
}

const positiveInt = (name: string, value: number | undefined, fallback: number) =>
  integerOption(name, value, fallback, 1, (option, reason) => new InvalidSagaOptionError(option, reason))

/** A sleep that {@link Waker.wake} cuts short; a wake-up while awake makes the next sleep return at once. */
type Waker = Readonly<{ wake(): void; idle(ms: number): Promise<void> }>

function createWaker(): Waker {
  let wakeUp: (() => void) | null = null
  let woken = false
  return {
    wake() {
      woken = true
      wakeUp?.()
    },
    idle(ms) {
      if (woken) {
        woken = false
        return Promise.resolve()
      }
      return new Promise((resolve) => {
        const timer = setTimeout(done, ms)
        function done() {
          clearTimeout(timer)
          wakeUp = null
          woken = false
          resolve()
        }
        wakeUp = done
      })
    },
  }
}

/**
 * Creates a saga worker. Several may run against one database: each instance is claimed by one
 * worker at a time (`FOR UPDATE SKIP LOCKED` plus a lock expiry), the router and each reactor are
 * leased to one worker by the projection runner, and the saga's stream (optimistic concurrency)
 * plus idempotent commands keep even an overlapping drive from running a step twice.
 * @example
 * const worker = createSagaWorker({ pool, store, watcher, sagas: [transfer], reactors: [notify], handleSignals: true, logger: pino() })
 * await worker.start()
 * await worker.startSaga(transfer, { transferId, from, to, amount, currency })
 */
export function createSagaWorker(options: SagaWorkerOptions): SagaWorker {
  const { pool, store, watcher } = options
  const t = sagaTables(options)
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  const pollIntervalMs = positiveInt('pollIntervalMs', options.pollIntervalMs, 500)
  const lockTtlMs = positiveInt('lockTtlMs', options.lockTtlMs, 30_000)
  const concurrency = positiveInt('concurrency', options.concurrency, 8)
  const maxBackoffMs = positiveInt('maxBackoffMs', options.maxBackoffMs, 30_000)
  const retryDelay = toBackoff(options.backoff, { initialDelayMs: 200, maxDelayMs: maxBackoffMs, jitter: 'none' })
  const log = withLogFields(options.logger ?? silentLogger, { worker: workerId })
  const engine = createSagaEngine({
    store,
    sagas: options.sagas,
    logger: log,
    ...(options.idempotency ? { idempotency: options.idempotency } : {}),
    ...(options.snapshots ? { snapshots: options.snapshots } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.hooks ? { hooks: options.hooks } : {}),
  })
  const sagaNames = [...engine.sagas.keys()]
  const sub = options.subscriptions
  const projections: AnyProjection[] = [
    createSagaRouter({ pool, tables: t, engine, sagas: options.sagas, name: sub?.routerName ?? 'sagas.router' }),
    ...(options.reactors ?? []).map((reactor) =>
      createReactorProjection(reactor, {
        pool,
        schema: t.schema,
        tablePrefix: t.tablePrefix,
        store,
        ...(options.idempotency ? { idempotency: options.idempotency } : {}),
        ...(options.snapshots ? { snapshots: options.snapshots } : {}),
        ...(options.retry ? { retry: options.retry } : {}),
      }),
    ),
  ]
  const subscriptions = createProjectionRunner({
    pool,
    store,
    ...(watcher ? { watcher } : {}),
    projections,
    workerId,
    logger: log,
    ...(sub?.schema ? { schema: sub.schema } : {}),
    ...(sub?.tablePrefix ? { tablePrefix: sub.tablePrefix } : {}),
    ...(sub?.pollIntervalMs ? { pollIntervalMs: sub.pollIntervalMs } : {}),
    ...(sub?.leaseTtlMs ? { leaseTtlMs: sub.leaseTtlMs } : {}),
    ...(sub?.batchSize ? { batchSize: sub.batchSize } : {}),
  })

  const waker = createWaker()
  const wake = (): void => waker.wake()
  let loop: Promise<void> | null = null
  let unsubscribe: (() => void) | null = null
  let renewTimer: NodeJS.Timeout | null = null

  async function driveOne(row: ClaimedInstance): Promise<void> {
    try {
      const result = await engine.drive(row.saga, row.saga_id, { now: row.now })
      await recordDriven(pool, t, row, workerId, result)
    } catch (error) {
      const attempts = row.attempts + 1
      const retryInMs = retryDelay(attempts)
      log.warn({ err: error, saga: row.saga, sagaId: row.saga_id, attempts, retryInMs }, 'saga drive failed')
      await recordDriveFailed(pool, t, row, {
        workerId,
        attempts,
        error: error instanceof Error ? error.message : String(error),
        retryInMs,
      }).catch((e: unknown) => log.error({ err: e }, 'cannot record the failed drive'))
    }
  }

  // A rolling pool: a slow saga holds one slot, the others keep flowing.
  const inFlight = new Map<string, Promise<void>>()
  async function run(): Promise<void> {
    while (!lifecycle.stopping) {
      const free = concurrency - inFlight.size
      let claimed: ClaimedInstance[] = []
      if (free > 0) {
        try {
          claimed = await claimDueInstances(pool, t, { sagas: sagaNames, limit: free, workerId, lockTtlMs })
        } catch (error) {
          log.error({ err: error }, 'cannot claim saga instances')
        }
      }
      const fresh = claimed.filter((row) => !inFlight.has(`${row.saga}\u0000${row.saga_id}`))
      if (fresh.length === 0) {
        await waker.idle(pollIntervalMs)
        continue
      }
      for (const row of fresh) {
        const key = `${row.saga}\u0000${row.saga_id}`
        const drive: Promise<void> = driveOne(row).finally(() => {
          inFlight.delete(key)
          wake()
        })
        inFlight.set(key, drive)
      }
    }
    await Promise.all(inFlight.values())
  }

  // Keeps the claims of long drives: another worker takes an instance only from a worker that stopped.
  async function renewLocks(): Promise<void> {
    if (inFlight.size === 0) return
    await renewInstanceLocks(pool, t, workerId, lockTtlMs).catch((error: unknown) =>
      log.warn({ err: error }, 'cannot renew saga locks'),
    )
  }

  const lifecycle = createWorkerLifecycle({
    alreadyStarted: () => new SagaWorkerAlreadyStartedError(),
    handleSignals: options.handleSignals === true,
    async onStart() {
      if (options.migrate !== false) {
        await migrateSagas({ pool, schema: t.schema, tablePrefix: t.tablePrefix })
        await migrateProjections({
          pool,
          ...(sub?.schema ? { schema: sub.schema } : {}),
          ...(sub?.tablePrefix ? { tablePrefix: sub.tablePrefix } : {}),
        })
      }
      unsubscribe = watcher?.onWake(wake) ?? null
      await subscriptions.start()
      renewTimer = setInterval(() => void renewLocks(), Math.max(50, Math.floor(lockTtlMs / 3)))
      renewTimer.unref()
      loop = run()
      log.info({ sagas: sagaNames, reactors: (options.reactors ?? []).map((r) => r.name) }, 'saga worker started')
    },
    async onStop() {
      wake()
      unsubscribe?.()
      await loop
      if (renewTimer) clearInterval(renewTimer)
      await subscriptions.stop()
      log.info({}, 'saga worker stopped')
    },
  })

  async function startSaga<In, I>(
    saga: SagaDefinition<In, I>,
    input: In,
    startOptions?: StartSagaOptions,
  ): Promise<StartSagaResult> {
    const result = await engine.start(saga, input, startOptions)
    await ensureInstanceRow(pool, t, result.saga, result.sagaId)
    wake()
    return result
  }

  return Object.freeze({
    workerId,
    engine,
    subscriptions,
    start: () => lifecycle.start(),
    stop: () => lifecycle.stop(),
    whenStopped: () => lifecycle.whenStopped(),
    startSaga,
    wake,
  })
}
