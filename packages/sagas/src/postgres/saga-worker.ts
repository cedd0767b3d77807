import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { EventStore, IdempotencyStore, LogWatcher, RecordedEvent, RetryPolicy, SnapshotStore } from '@annals/core'
import {
  type AnyProjection,
  createPostgresSink,
  createProjectionRunner,
  defineProjection,
  migrateProjections,
  type ProjectionRunner,
} from '@annals/projections'
import type { Pool, PoolClient } from 'pg'
import { type Logger, pino } from 'pino'
import { createSagaEngine } from '../engine/saga-engine.js'
import type { SagaEngine, SagaHooks, StartSagaOptions, StartSagaResult } from '../engine/saga-engine-types.js'
import { InvalidSagaOptionError, SagaWorkerAlreadyStartedError } from '../errors.js'
import type { AnyReactor } from '../reactor.js'
import { type AnySagaDefinition, type SagaDefinition, sagaStreamId } from '../saga-definition.js'
import type { SagaStarted } from '../saga-events.js'
import { migrateSagas } from './migrate-sagas.js'
import { type SagaTables, sagaTables } from './names.js'
import { createReactorProjection } from './reactor-projection.js'

/** Options of {@link createSagaWorker}. */
export type SagaWorkerOptions = Readonly<{
  /** The database of the saga tables and the projection tables (usually the event store's). */
  pool: Pool
  /** Schema of the saga tables. Default `annals`. */
  schema?: string
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
  /** Longest wait before retrying an instance whose drive failed (database down…). Default 30000 ms. */
  maxBackoffMs?: number
  /** Run `migrateSagas` and `migrateProjections` on start. Default true. */
  migrate?: boolean
  /** The log subscriptions (saga router and reactors) run on the projection runner. */
  subscriptions?: Readonly<{
    /** Schema of the projection tables (checkpoints, leases, dead letters). Default `annals`. */
    schema?: string
    /** Name of the router projection (unique per projection schema). Default `sagas.router`. */
    routerName?: string
    pollIntervalMs?: number
    leaseTtlMs?: number
    batchSize?: number
  }>
  logger?: Logger
  /** Stop gracefully on SIGTERM and SIGINT. Default false. */
  handleSignals?: boolean
  /** @internal */
  hooks?: SagaHooks
}>

/** A saga worker: drives instances from the `saga_instances` queue and routes log events to them. */
export interface SagaWorker {
  readonly workerId: string
  readonly engine: SagaEngine
  /** The projection runner hosting the router and the reactors (for status and metrics). */
  readonly subscriptions: ProjectionRunner
  start(): Promise<void>
  /** Finishes the drives in flight and the subscription batch, then resolves. */
  stop(): Promise<void>
  /** Starts an instance and queues it for this (or any) worker. */
  startSaga<In, I>(saga: SagaDefinition<In, I>, input: In, options?: StartSagaOptions): Promise<StartSagaResult>
  /** Look for due instances now. */
  wake(): void
}

/** @internal Inserts the instance row if missing (due now). */
export async function ensureInstanceRow(
  db: Pool | PoolClient,
  t: SagaTables,
  saga: string,
  sagaId: string,
): Promise<void> {
  await db.query(
    `INSERT INTO ${t.instances} (saga, saga_id, stream_id, wake_at) VALUES ($1, $2, $3, now())
     ON CONFLICT (saga, saga_id) DO NOTHING`,
    [saga, sagaId, sagaStreamId(saga, sagaId)],
  )
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < 1) {
    throw new InvalidSagaOptionError(name, `must be an integer >= 1 (got ${String(v)})`)
  }
  return v
}

type Claimed = { saga: string; saga_id: string; wake_seq: string; attempts: number; now: Date }

/**
 * Creates a saga worker. Several may run against one database: each instance is claimed by one
 * worker at a time (`FOR UPDATE SKIP LOCKED` plus a lock expiry), the router and each reactor are
 * leased to one worker by the projection runner, and the saga's stream (optimistic concurrency)
 * plus idempotent commands keep even an overlapping drive from running a step twice.
 * @example
 * const worker = createSagaWorker({ pool, store, watcher, sagas: [transfer], reactors: [notify], handleSignals: true })
 * await worker.start()
 * await worker.startSaga(transfer, { transferId, from, to, amount, currency })
 */
export function createSagaWorker(options: SagaWorkerOptions): SagaWorker {
  const { pool, store, watcher } = options
  const t = sagaTables(options.schema)
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  const pollIntervalMs = positiveInt('pollIntervalMs', options.pollIntervalMs, 500)
  const lockTtlMs = positiveInt('lockTtlMs', options.lockTtlMs, 30_000)
  const concurrency = positiveInt('concurrency', options.concurrency, 8)
  const maxBackoffMs = positiveInt('maxBackoffMs', options.maxBackoffMs, 30_000)
  const log = (options.logger ?? pino({ name: 'annals-sagas' })).child({ worker: workerId })
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
  const triggerTypes = new Set(options.sagas.flatMap((s) => s.startedBy.map((x) => x.type)))
  const awaitedTypes = new Set(
    options.sagas.flatMap((s) => s.steps.flatMap((x) => [...(x.awaits?.success ?? []), ...(x.awaits?.failure ?? [])])),
  )

  const router = defineProjection({
    name: options.subscriptions?.routerName ?? 'sagas.router',
    version: 1,
    handles: [...new Set(['SagaStarted', ...engine.handledTypes])],
    sink: createPostgresSink({
      pool,
      schema: t.schema,
      tables: {
        saga_router: (name: string) =>
          `CREATE TABLE ${name} (id int PRIMARY KEY, last_event_id text NOT NULL, routed_at timestamptz NOT NULL)`,
      },
    }),
    // Runs in the runner's transaction: the rows written here commit with its checkpoint, so a crash
    // redelivers the event and the (idempotent) start or delivery is simply repeated.
    async apply(event: RecordedEvent, { client, table }) {
      if (event.type === 'SagaStarted') {
        const data = event.data as Partial<SagaStarted['data']>
        if (
          typeof data.saga === 'string' &&
          typeof data.sagaId === 'string' &&
          engine.sagas.has(data.saga) &&
          event.streamId === sagaStreamId(data.saga, data.sagaId)
        ) {
          await ensureInstanceRow(client, t, data.saga, data.sagaId)
        }
      }
      if (triggerTypes.has(event.type)) {
        for (const started of await engine.trigger(event)) {
          await ensureInstanceRow(client, t, started.saga, started.sagaId)
        }
      }
      if (awaitedTypes.has(event.type)) {
        for (const delivery of await engine.deliver(event)) {
          await client.query(
            `UPDATE ${t.instances} SET wake_at = now(), wake_seq = wake_seq + 1, updated_at = now()
             WHERE saga = $1 AND saga_id = $2 AND status IN ('running', 'compensating')`,
            [delivery.saga, delivery.sagaId],
          )
        }
      }
      await client.query(
        `INSERT INTO ${table('saga_router')} (id, last_event_id, routed_at) VALUES (1, $1, now())
         ON CONFLICT (id) DO UPDATE SET last_event_id = excluded.last_event_id, routed_at = now()`,
        [event.eventId],
      )
    },
  })
  const projections: AnyProjection[] = [
    router,
    ...(options.reactors ?? []).map((reactor) =>
      createReactorProjection(reactor, {
        pool,
        schema: t.schema,
        store,
        ...(options.idempotency ? { idempotency: options.idempotency } : {}),
        ...(options.snapshots ? { snapshots: options.snapshots } : {}),
        ...(options.retry ? { retry: options.retry } : {}),
      }),
    ),
  ]
  const sub = options.subscriptions
  const subscriptions = createProjectionRunner({
    pool,
    store,
    ...(watcher ? { watcher } : {}),
    projections,
    workerId,
    logger: log,
    ...(sub?.schema ? { schema: sub.schema } : {}),
    ...(sub?.pollIntervalMs ? { pollIntervalMs: sub.pollIntervalMs } : {}),
    ...(sub?.leaseTtlMs ? { leaseTtlMs: sub.leaseTtlMs } : {}),
    ...(sub?.batchSize ? { batchSize: sub.batchSize } : {}),
  })

  let running = false
  let loop: Promise<void> | null = null
  let wakeUp: (() => void) | null = null
  let woken = false
  let unsubscribe: (() => void) | null = null
  const signalHandler = () => {
    log.info('signal received, stopping the saga worker')
    void stop()
  }

  function wake(): void {
    woken = true
    wakeUp?.()
  }

  function idle(ms: number): Promise<void> {
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
  }

  async function claim(limit: number): Promise<Claimed[]> {
    const { rows } = await pool.query<Claimed>(
      `WITH due AS (
         SELECT saga, saga_id FROM ${t.instances}
         WHERE wake_at <= now() AND saga = ANY($1::text[]) AND (locked_until IS NULL OR locked_until < now())
         ORDER BY wake_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       UPDATE ${t.instances} i SET locked_by = $3, locked_until = now() + $4 * interval '1 millisecond'
       FROM due WHERE i.saga = due.saga AND i.saga_id = due.saga_id
       RETURNING i.saga, i.saga_id, i.wake_seq::text AS wake_seq, i.attempts, now() AS now`,
      [sagaNames, limit, workerId, lockTtlMs],
    )
    return rows
  }

  async function driveOne(row: Claimed): Promise<void> {
    try {
      const result = await engine.drive(row.saga, row.saga_id, { now: row.now })
      // A wake-up that came in during the drive (wake_seq moved) keeps the instance due.
      await pool.query(
        `UPDATE ${t.instances} SET status = $4, current_step = $5, version = $6, deadline_at = $7,
           wake_at = CASE WHEN wake_seq = $8::bigint THEN $7 ELSE wake_at END,
           attempts = 0, last_error = NULL, locked_by = NULL, locked_until = NULL, updated_at = now()
         WHERE saga = $1 AND saga_id = $2 AND locked_by = $3`,
        [
          row.saga,
          row.saga_id,
          workerId,
          result.status,
          result.currentStep,
          result.version.toString(),
          result.wakeAt,
          row.wake_seq,
        ],
      )
    } catch (error) {
      const attempts = row.attempts + 1
      const delay = Math.min(maxBackoffMs, 100 * 2 ** Math.min(attempts, 20))
      log.warn({ err: error, saga: row.saga, sagaId: row.saga_id, attempts, retryInMs: delay }, 'saga drive failed')
      await pool
        .query(
          `UPDATE ${t.instances} SET attempts = $4, last_error = $5,
             wake_at = CASE WHEN wake_seq = $6::bigint THEN now() + $7 * interval '1 millisecond' ELSE wake_at END,
             locked_by = NULL, locked_until = NULL, updated_at = now()
           WHERE saga = $1 AND saga_id = $2 AND locked_by = $3`,
          [
            row.saga,
            row.saga_id,
            workerId,
            attempts,
            error instanceof Error ? error.message : String(error),
            row.wake_seq,
            delay,
          ],
        )
        .catch((e: unknown) => log.error({ err: e }, 'cannot record the failed drive'))
    }
  }

  // A rolling pool: a slow saga holds one slot, the others keep flowing.
  const inFlight = new Map<string, Promise<void>>()
  async function run(): Promise<void> {
    while (running) {
      const free = concurrency - inFlight.size
      let claimed: Claimed[] = []
      if (free > 0) {
        try {
          claimed = await claim(free)
        } catch (error) {
          log.error({ err: error }, 'cannot claim saga instances')
        }
      }
      const fresh = claimed.filter((row) => !inFlight.has(`${row.saga}\u0000${row.saga_id}`))
      if (fresh.length === 0) {
        await idle(pollIntervalMs)
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
    await pool
      .query(`UPDATE ${t.instances} SET locked_until = now() + $2 * interval '1 millisecond' WHERE locked_by = $1`, [
        workerId,
        lockTtlMs,
      ])
      .catch((error: unknown) => log.warn({ err: error }, 'cannot renew saga locks'))
  }
  let renewTimer: NodeJS.Timeout | null = null

  async function start(): Promise<void> {
    if (running) throw new SagaWorkerAlreadyStartedError()
    if (options.migrate !== false) {
      await migrateSagas({ pool, schema: t.schema })
      await migrateProjections({ pool, ...(sub?.schema ? { schema: sub.schema } : {}) })
    }
    running = true
    unsubscribe = watcher?.onWake(wake) ?? null
    if (options.handleSignals) {
      process.once('SIGTERM', signalHandler)
      process.once('SIGINT', signalHandler)
    }
    await subscriptions.start()
    renewTimer = setInterval(() => void renewLocks(), Math.max(50, Math.floor(lockTtlMs / 3)))
    renewTimer.unref()
    loop = run()
    log.info({ sagas: sagaNames, reactors: (options.reactors ?? []).map((r) => r.name) }, 'saga worker started')
  }

  async function stop(): Promise<void> {
    if (!running) return
    running = false
    wake()
    unsubscribe?.()
    process.off('SIGTERM', signalHandler)
    process.off('SIGINT', signalHandler)
    await loop
    if (renewTimer) clearInterval(renewTimer)
    await subscriptions.stop()
    log.info('saga worker stopped')
  }

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

  return Object.freeze({ workerId, engine, subscriptions, start, stop, startSaga, wake })
}
