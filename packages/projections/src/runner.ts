import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import {
  compareCheckpoints,
  type EventStore,
  LOG_START,
  type LogCheckpoint,
  type Logger,
  type LogWatcher,
  type RecordedEvent,
  withLogFields,
} from '@annals/core'
import type { Pool } from 'pg'
import { pino } from 'pino'
import { Counter, Gauge, Registry } from 'prom-client'
import { backoffDelay, createWaiter, type RetryOptions } from './backoff.js'
import { createDeadLetterStore, type ParkedEvent } from './dead-letters.js'
import {
  HandlerFailedError,
  isHandlerFailedError,
  isLeaseLostError,
  LeaseLostError,
  ProjectionAlreadyStartedError,
  ProjectionInvalidOptionError,
  ProjectionTimeoutError,
} from './errors.js'
import { createLeaseStore, type Lease } from './lease.js'
import { projectionTables } from './names.js'
import { type AnyProjection, indexProjections } from './projection.js'
import { createRegistry, type RegistryRow } from './registry.js'
import type { SinkCommitResult, SinkTarget } from './sink.js'

/** What a projection worker is doing. */
export type ProjectionState = 'starting' | 'standby' | 'catching-up' | 'live' | 'rebuilding' | 'error' | 'stopped'

/** One projection as seen by the runner that hosts it (see also `getProjectionStatus`). */
export type ProjectionRuntimeStatus = Readonly<{
  name: string
  version: number
  state: ProjectionState
  /** This worker's id when it holds the lease, else null. */
  owner: string | null
  token: bigint | null
  liveGeneration: number | null
  checkpoint: LogCheckpoint | null
  building: Readonly<{
    generation: number
    version: number
    checkpoint: LogCheckpoint | null
    eventsDone: number
  }> | null
  eventsProcessed: number
  /** Events per second over the last status interval. */
  throughput: number
  /** Handled events after the checkpoint (capped by the counting strategy), refreshed every status interval. */
  lagEvents: number
  /** Age of the oldest unprocessed handled event, in seconds (0 when caught up). */
  lagSeconds: number
  deadLetters: number
  lastError: string | null
}>

/** Hooks for tests and tracing. @internal */
export type RunnerHooks = Readonly<{
  /** Called before every sink commit (a test may pause the process here). */
  beforeCommit?: (
    info: Readonly<{ projection: string; generation: number; events: readonly RecordedEvent[] }>,
  ) => void | Promise<void>
}>

/** Options of {@link createProjectionRunner}. */
export type ProjectionRunnerOptions = Readonly<{
  /** Pool of the database that holds the projection tables (see `migrateProjections`). */
  pool: Pool
  /** Schema of the projection tables. Default `annals`. */
  schema?: string
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
  /** Where the runner logs (a pino logger fits). Default: a pino logger named annals-projections. */
  logger?: Logger
  /** Prometheus registry to register the metrics in (default: a new one, see `runner.metrics`). */
  metricsRegistry?: Registry
  /** @internal */
  hooks?: RunnerHooks
}>

/** Runs projections: one loop per projection, each with its own lease, checkpoint and generations. */
export interface ProjectionRunner {
  readonly workerId: string
  /** The Prometheus registry holding this runner's metrics. */
  readonly metrics: Registry
  /** Starts every projection loop (each first waits for its lease). */
  start(): Promise<void>
  /** Finishes the batch in flight, releases the leases, and resolves when every loop has ended. */
  stop(): Promise<void>
  status(): readonly ProjectionRuntimeStatus[]
  /** Resolves once the runner has stopped (after `stop()`, or a signal when `handleSignals` is on). */
  whenStopped(): Promise<void>
  /**
   * Resolves when every projection is owned by this runner, has no rebuild running, and is caught up
   * with the gap-safe log. That log's fence is server-wide: while any transaction on the server is
   * open, later commits are not visible yet, so "idle" means caught up with what the log shows now.
   */
  waitUntilIdle(options?: Readonly<{ timeoutMs?: number }>): Promise<void>
}

type Track = {
  generation: number
  version: number
  checkpoint: LogCheckpoint | null
  blocked: Set<string>
  eventsDone: number
  caughtUp: boolean
  /** The live generation of an older version: readers keep it, but its handlers are gone. */
  frozen: boolean
}

type Worker = {
  readonly p: AnyProjection
  lease: Lease | null
  leaseLost: boolean
  live: Track | null
  building: Track | null
  state: ProjectionState
  lastError: string | null
  eventsProcessed: number
  processedAtLastTick: number
  lastTickAt: number
  throughput: number
  lagEvents: number
  lagSeconds: number
  deadLetters: number
  lastControlAt: number
  readonly waiter: ReturnType<typeof createWaiter>
  loop: Promise<void> | null
  /** The last wait ended by the timer, not by a wake-up. */
  polled: boolean
  lastMissedWakeWarnAt: number
  lastLagAt: number
}

/** Thrown inside the loop when the stored checkpoint moved under us: re-read from the stored one. */
class CheckpointMoved extends Error {}
/** Thrown inside the loop to abandon work when stopping. */
class Stopping extends Error {}

function checkpointOf(event: RecordedEvent): LogCheckpoint {
  return { transactionId: event.transactionId, position: event.globalPosition }
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < 1)
    throw new ProjectionInvalidOptionError(name, `must be an integer >= 1 (got ${String(v)})`)
  return v
}

/**
 * Creates a projection runner.
 * @example
 * const runner = createProjectionRunner({ pool, store, watcher, projections: [balances], handleSignals: true })
 * await runner.start()
 */
export function createProjectionRunner(options: ProjectionRunnerOptions): ProjectionRunner {
  const { pool, store, watcher, hooks } = options
  const tables = projectionTables(options.schema)
  const byName = indexProjections(options.projections)
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  const batchSize = positiveInt('batchSize', options.batchSize, 500)
  const rebuildBatchSize = positiveInt('rebuildBatchSize', options.rebuildBatchSize, 2000)
  const pollIntervalMs = positiveInt('pollIntervalMs', options.pollIntervalMs, 1000)
  const leaseTtlMs = positiveInt('leaseTtlMs', options.leaseTtlMs, 10_000)
  const controlIntervalMs = positiveInt('controlIntervalMs', options.controlIntervalMs, 1000)
  const maxAttempts = positiveInt('retry.maxAttempts', options.retry?.maxAttempts, 5)
  const initialDelayMs = positiveInt('retry.initialDelayMs', options.retry?.initialDelayMs, 50)
  const maxDelayMs = positiveInt('retry.maxDelayMs', options.retry?.maxDelayMs, 5000)
  const log = withLogFields(options.logger ?? pino({ name: 'annals-projections' }), { worker: workerId })
  const leases = createLeaseStore(pool, tables)
  const registry = createRegistry(pool, tables)
  const deadLetters = createDeadLetterStore(pool, tables)
  const metrics = options.metricsRegistry ?? new Registry()

  const workers: Worker[] = [...byName.values()].map((p) => ({
    p,
    lease: null,
    leaseLost: false,
    live: null,
    building: null,
    state: 'starting',
    lastError: null,
    eventsProcessed: 0,
    processedAtLastTick: 0,
    lastTickAt: Date.now(),
    throughput: 0,
    lagEvents: 0,
    lagSeconds: 0,
    deadLetters: 0,
    lastControlAt: 0,
    waiter: createWaiter(),
    loop: null,
    polled: false,
    lastMissedWakeWarnAt: 0,
    lastLagAt: 0,
  }))

  let running = false
  const stopWaiters = new Set<() => void>()
  let markStopped: () => void = () => {}
  let stopped = new Promise<void>((resolve) => {
    markStopped = resolve
  })
  let stopping = false
  let renewTimer: NodeJS.Timeout | null = null
  let unsubscribe: (() => void) | null = null
  const signalHandler = () => {
    log.info({}, 'signal received, stopping projections')
    void stop()
  }

  const target = (w: Worker, generation: number): SinkTarget => ({
    projection: w.p.name,
    generation,
    schema: tables.schema,
  })

  const leaseOf = (w: Worker): Lease => {
    if (!w.lease || w.leaseLost) throw new LeaseLostError(w.p.name, w.lease?.token ?? 0n)
    return w.lease
  }

  // ---- metrics ---------------------------------------------------------------------------------
  const processedCounter = new Counter({
    name: 'annals_projection_events_processed_total',
    help: 'Events applied to the read model (replays included)',
    labelNames: ['projection'],
    registers: [metrics],
  })
  const missedWakeUps = new Counter({
    name: 'annals_projection_missed_wakeups_total',
    help: 'Times polling found new events that no wake-up announced',
    labelNames: ['projection'],
    registers: [metrics],
  })
  const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge<string>) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [metrics],
      collect() {
        this.reset()
        fill(this)
      },
    })
  gauge('annals_projection_checkpoint_position', 'Global position of the live checkpoint', ['projection'], (g) => {
    for (const w of workers) if (w.live?.checkpoint) g.set({ projection: w.p.name }, Number(w.live.checkpoint.position))
  })
  gauge('annals_projection_lag_events', 'Handled events not yet applied', ['projection'], (g) => {
    for (const w of workers) if (w.lease) g.set({ projection: w.p.name }, w.lagEvents)
  })
  gauge('annals_projection_lag_seconds', 'Age of the oldest unapplied handled event', ['projection'], (g) => {
    for (const w of workers) if (w.lease) g.set({ projection: w.p.name }, w.lagSeconds)
  })
  gauge('annals_projection_throughput_events_per_second', 'Events applied per second', ['projection'], (g) => {
    for (const w of workers) g.set({ projection: w.p.name }, w.throughput)
  })
  gauge('annals_projection_dead_letters', 'Parked events', ['projection'], (g) => {
    for (const w of workers) if (w.lease) g.set({ projection: w.p.name }, w.deadLetters)
  })
  gauge('annals_projection_state', 'Current state (1 for the active state)', ['projection', 'state'], (g) => {
    for (const w of workers) g.set({ projection: w.p.name, state: w.state }, 1)
  })
  gauge(
    'annals_projection_owner',
    'Worker holding the lease (1 when this worker owns it)',
    ['projection', 'owner'],
    (g) => {
      for (const w of workers) g.set({ projection: w.p.name, owner: workerId }, w.lease && !w.leaseLost ? 1 : 0)
    },
  )
  gauge(
    'annals_projection_rebuild_events_done',
    'Events applied to the generation being built',
    ['projection'],
    (g) => {
      for (const w of workers) if (w.building) g.set({ projection: w.p.name }, w.building.eventsDone)
    },
  )

  // ---- commits ---------------------------------------------------------------------------------
  async function commit(
    w: Worker,
    track: Track,
    events: readonly RecordedEvent[],
    checkpoint: LogCheckpoint | null,
    replayIds: readonly bigint[] = [],
  ): Promise<SinkCommitResult> {
    const lease = leaseOf(w)
    if (hooks?.beforeCommit && events.length > 0) {
      await hooks.beforeCommit({ projection: w.p.name, generation: track.generation, events })
    }
    const result = await w.p.sink.commit(target(w, track.generation), {
      token: lease.token,
      expected: track.checkpoint,
      checkpoint,
      replayIds,
      size: events.length,
      async apply(ctx) {
        if (w.p.handleBatch && events.length > 1) {
          try {
            await w.p.handleBatch(events, ctx)
          } catch (cause) {
            // Which event failed is unknown: the caller isolates it one event at a time.
            throw new HandlerFailedError(w.p.name, (events[0] as RecordedEvent).eventId, -1, { cause })
          }
          return
        }
        for (let i = 0; i < events.length; i++) {
          const event = events[i] as RecordedEvent
          try {
            await w.p.handle(event, ctx)
          } catch (cause) {
            throw new HandlerFailedError(w.p.name, event.eventId, i, { cause })
          }
        }
      },
    })
    switch (result.status) {
      case 'committed': {
        if (checkpoint) track.checkpoint = checkpoint
        track.eventsDone += events.length
        w.eventsProcessed += events.length
        processedCounter.inc({ projection: w.p.name }, events.length)
        const rejections = 'rejections' in result ? result.rejections : undefined
        if (rejections && rejections.length > 0) {
          await park(
            w,
            track,
            rejections.map((r) => ({
              event: events[r.index] as RecordedEvent,
              reason: 'failed',
              error: r.error,
              attempts: 1,
            })),
          )
          for (const r of rejections) track.blocked.add((events[r.index] as RecordedEvent).streamId)
        }
        return result
      }
      case 'fenced':
        log.warn(
          { projection: w.p.name, token: lease.token.toString(), events: events.length },
          'commit fenced: a newer lease owner exists, nothing written',
        )
        w.leaseLost = true
        throw new LeaseLostError(w.p.name, lease.token)
      case 'conflict':
        log.warn(
          {
            projection: w.p.name,
            generation: track.generation,
            expected: fmt(track.checkpoint),
            actual: fmt(result.actual),
          },
          result.actual === null
            ? 'checkpoint missing in the sink (data lost?): rebuilding this generation from zero'
            : 'checkpoint moved under us: re-reading',
        )
        track.checkpoint = result.actual
        if (result.actual === null && track === w.live)
          await w.p.sink.activate(target(w, track.generation), lease.token)
        throw new CheckpointMoved()
      case 'duplicate':
        return result
    }
  }

  async function park(w: Worker, track: Track, parked: readonly ParkedEvent[]): Promise<void> {
    const lease = leaseOf(w)
    if (!(await deadLetters.park(w.p.name, track.generation, lease.token, parked))) {
      w.leaseLost = true
      throw new LeaseLostError(w.p.name, lease.token)
    }
    w.deadLetters += parked.length
    for (const x of parked) {
      log.warn(
        {
          projection: w.p.name,
          eventId: x.event.eventId,
          stream: x.event.streamId,
          reason: x.reason,
          attempts: x.attempts,
        },
        x.reason === 'failed'
          ? 'event parked as a dead letter'
          : 'event parked behind an earlier dead letter of its stream',
      )
    }
  }

  async function sleep(ms: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms))
    if (stopping) throw new Stopping()
  }

  async function retryOne(w: Worker, track: Track, event: RecordedEvent, first: HandlerFailedError): Promise<void> {
    let lastError: unknown = first.cause
    for (let attempt = 2; attempt <= maxAttempts; attempt++) {
      await sleep(backoffDelay(attempt - 1, initialDelayMs, maxDelayMs))
      try {
        await commit(w, track, [event], checkpointOf(event))
        return
      } catch (error) {
        if (!isHandlerFailedError(error)) throw error
        lastError = error.cause
      }
    }
    await park(w, track, [{ event, reason: 'failed', error: lastError, attempts: maxAttempts }])
    track.blocked.add(event.streamId)
    await commit(w, track, [], checkpointOf(event))
  }

  async function applyEvents(w: Worker, track: Track, events: readonly RecordedEvent[], final: LogCheckpoint) {
    let index = 0
    while (index < events.length) {
      const parkNow: RecordedEvent[] = []
      const chunk: { event: RecordedEvent; at: number }[] = []
      for (let j = index; j < events.length; j++) {
        const event = events[j] as RecordedEvent
        if (track.blocked.has(event.streamId)) parkNow.push(event)
        else chunk.push({ event, at: j })
      }
      // Parked rows are durable before the checkpoint passes their events (re-parking is idempotent).
      if (parkNow.length > 0)
        await park(
          w,
          track,
          parkNow.map((event) => ({ event, reason: 'blocked', attempts: 0 })),
        )
      try {
        await commit(
          w,
          track,
          chunk.map((c) => c.event),
          final,
        )
        return
      } catch (error) {
        if (!isHandlerFailedError(error)) throw error
        if (error.index < 0) {
          await applyOneByOne(w, track, chunk)
          return
        }
        const failing = chunk[error.index] as { event: RecordedEvent; at: number }
        if (failing.at > 0) {
          const before = chunk.slice(0, error.index).map((c) => c.event)
          await commit(w, track, before, checkpointOf(events[failing.at - 1] as RecordedEvent))
        }
        await retryOne(w, track, failing.event, error)
        index = failing.at + 1
      }
    }
  }

  async function applyOneByOne(w: Worker, track: Track, chunk: readonly { event: RecordedEvent }[]) {
    for (const { event } of chunk) {
      if (track.blocked.has(event.streamId)) {
        await park(w, track, [{ event, reason: 'blocked', attempts: 0 }])
        continue
      }
      try {
        await commit(w, track, [event], checkpointOf(event))
      } catch (error) {
        if (!isHandlerFailedError(error)) throw error
        await retryOne(w, track, event, error)
      }
    }
  }

  async function processTrack(w: Worker, track: Track, limit: number): Promise<boolean> {
    const after = track.checkpoint ?? LOG_START
    const batch = await store.readAll({ after, limit, types: w.p.handles })
    if (batch.events.length > 0) await applyEvents(w, track, batch.events, batch.checkpoint)
    else if (compareCheckpoints(batch.checkpoint, after) > 0) await commit(w, track, [], batch.checkpoint)
    track.caughtUp = batch.caughtUp
    return batch.caughtUp
  }

  // ---- generations -----------------------------------------------------------------------------
  function newTrack(generation: number, version: number): Track {
    return { generation, version, checkpoint: null, blocked: new Set(), eventsDone: 0, caughtUp: false, frozen: false }
  }

  async function loadTrack(w: Worker, track: Track): Promise<void> {
    await w.p.sink.prepare(target(w, track.generation))
    track.checkpoint = await w.p.sink.loadCheckpoint(target(w, track.generation))
    track.blocked = await deadLetters.blockedStreams(w.p.name, track.generation)
  }

  async function startBuilding(w: Worker, row: RegistryRow): Promise<void> {
    const lease = leaseOf(w)
    const previous = w.building
    const generation = Math.max(row.liveGeneration, row.buildingGeneration ?? 0, previous?.generation ?? 0) + 1
    if (previous) await abandonBuilding(w, previous)
    if (!(await registry.startBuilding(w.p.name, lease.token, generation, w.p.version))) {
      w.leaseLost = true
      throw new LeaseLostError(w.p.name, lease.token)
    }
    // A fresh number, but clear it anyway: nothing half-built may count as done.
    await w.p.sink.drop(target(w, generation))
    const track = newTrack(generation, w.p.version)
    await loadTrack(w, track)
    w.building = track
    log.info({ projection: w.p.name, generation, version: w.p.version }, 'rebuild started')
  }

  async function abandonBuilding(w: Worker, track: Track): Promise<void> {
    await deadLetters.markObsolete(w.p.name, track.generation)
    await w.p.sink.drop(target(w, track.generation))
    w.building = null
  }

  async function switchOver(w: Worker): Promise<void> {
    const lease = leaseOf(w)
    const next = w.building as Track
    const old = w.live as Track
    if (!(await w.p.sink.activate(target(w, next.generation), lease.token))) {
      w.leaseLost = true
      throw new LeaseLostError(w.p.name, lease.token)
    }
    if (!(await registry.switchLive(w.p.name, lease.token, next.generation, next.version))) {
      w.leaseLost = true
      throw new LeaseLostError(w.p.name, lease.token)
    }
    w.live = next
    w.building = null
    await deadLetters.markObsolete(w.p.name, old.generation)
    await w.p.sink.drop(target(w, old.generation))
    log.info({ projection: w.p.name, generation: next.generation, previous: old.generation }, 'rebuild went live')
  }

  async function onAcquired(w: Worker): Promise<void> {
    const lease = leaseOf(w)
    const p = w.p
    const row = await registry.ensure(p.name, p.version, p.handles, p.sink.kind)
    await p.sink.fence(target(w, row.liveGeneration), lease.token)
    const live = newTrack(row.liveGeneration, row.liveVersion)
    live.frozen = row.liveVersion !== p.version
    await loadTrack(w, live)
    w.live = live
    w.building = null
    if (row.buildingGeneration !== null && row.buildingVersion === p.version && row.rebuildRequestedAt === null) {
      // Resume the crashed or interrupted build where its checkpoint says.
      const building = newTrack(row.buildingGeneration, p.version)
      await loadTrack(w, building)
      w.building = building
      log.info({ projection: p.name, generation: building.generation }, 'rebuild resumed')
    } else if (row.buildingGeneration !== null) {
      await abandonBuilding(w, newTrack(row.buildingGeneration, row.buildingVersion ?? 0))
      if (!(await registry.abandonBuilding(p.name, lease.token))) throw new LeaseLostError(p.name, lease.token)
    }
    if (w.building === null && (live.frozen || row.rebuildRequestedAt !== null)) await startBuilding(w, row)
    if ((await p.sink.liveGeneration(target(w, live.generation))) !== live.generation) {
      await p.sink.activate(target(w, live.generation), lease.token)
    }
    w.deadLetters = (await deadLetters.countParked()).get(p.name) ?? 0
    w.lastControlAt = 0
  }

  // ---- control: rebuild requests, dead-letter retries, status ----------------------------------
  async function replayRequested(w: Worker, track: Track): Promise<void> {
    const letters = await deadLetters.retryBatch(w.p.name, track.generation)
    if (letters.length === 0) return
    const byStream = new Map<string, typeof letters>()
    for (const l of letters) byStream.set(l.streamId, [...(byStream.get(l.streamId) ?? []), l])
    for (const [streamId, group] of byStream) {
      let replayed = 0
      for (const letter of group) {
        const read = await store.readStream(streamId, { from: letter.streamVersion, to: letter.streamVersion })
        const event = read.events[0]
        if (!event) {
          await deadLetters.recordRetryFailure(letter.id, new Error('event no longer in the store'))
          break
        }
        try {
          const result = await commit(w, track, [event], null, [letter.id])
          if (result.status === 'duplicate') log.info({ id: letter.id.toString() }, 'dead letter had been replayed')
          await deadLetters.markReplayed([letter.id])
          replayed++
        } catch (error) {
          if (!isHandlerFailedError(error)) throw error
          await deadLetters.recordRetryFailure(letter.id, error.cause)
          log.warn({ projection: w.p.name, id: letter.id.toString(), err: error.cause }, 'dead letter failed again')
          break
        }
      }
      if (replayed === group.length) track.blocked.delete(streamId)
      log.info({ projection: w.p.name, stream: streamId, replayed, parked: group.length }, 'dead letters replayed')
    }
    await deadLetters.clearRetryRequests(w.p.name, track.generation)
  }

  async function refreshLag(w: Worker): Promise<void> {
    const live = w.live
    if (!live || live.frozen) return
    const after = live.checkpoint ?? LOG_START
    const next = await store.readAll({ after, limit: 1, types: w.p.handles })
    const first = next.events[0]
    w.lagSeconds = first ? Math.max(0, (Date.now() - first.recordedAt.getTime()) / 1000) : 0
    if (!first) w.lagEvents = 0
    else if (options.countPending) w.lagEvents = await options.countPending(after, w.p.handles)
    else w.lagEvents = (await store.readAll({ after, limit: 1000, types: w.p.handles })).events.length
  }

  async function control(w: Worker): Promise<void> {
    const lease = leaseOf(w)
    w.lastControlAt = Date.now()
    const row = await registry.get(w.p.name)
    if (row?.rebuildRequestedAt) await startBuilding(w, row)
    for (const track of [w.live, w.building]) if (track) await replayRequested(w, track)
    const now = Date.now()
    const seconds = (now - w.lastTickAt) / 1000
    if (seconds > 0) w.throughput = (w.eventsProcessed - w.processedAtLastTick) / seconds
    w.processedAtLastTick = w.eventsProcessed
    w.lastTickAt = now
    // Lag costs a read (or a count) of the log: at most once a second, whatever the control interval.
    if (now - w.lastLagAt >= 1000) {
      w.lastLagAt = now
      await refreshLag(w)
    }
    w.deadLetters = (await deadLetters.countParked()).get(w.p.name) ?? 0
    await registry.publishStatus(w.p.name, lease.token, publishedStatus(w))
  }

  function publishedStatus(w: Worker): Record<string, unknown> {
    return {
      state: w.state,
      owner: workerId,
      checkpoint: fmt(w.live?.checkpoint ?? null),
      liveGeneration: w.live?.generation ?? null,
      building: w.building
        ? {
            generation: w.building.generation,
            version: w.building.version,
            checkpoint: fmt(w.building.checkpoint),
            eventsDone: w.building.eventsDone,
          }
        : null,
      eventsProcessed: w.eventsProcessed,
      throughput: w.throughput,
      lagEvents: w.lagEvents,
      lagSeconds: w.lagSeconds,
      deadLetters: w.deadLetters,
      lastError: w.lastError,
    }
  }

  // ---- the loop --------------------------------------------------------------------------------
  async function step(w: Worker): Promise<boolean> {
    if (Date.now() - w.lastControlAt >= controlIntervalMs) await control(w)
    let more = false
    if (w.building) {
      w.state = 'rebuilding'
      if (await processTrack(w, w.building, rebuildBatchSize)) await switchOver(w)
      else more = true
    }
    const live = w.live
    if (live && !live.frozen) {
      // Behind (first build, catching up after downtime): read in rebuild-sized batches.
      if (!(await processTrack(w, live, live.caughtUp ? batchSize : rebuildBatchSize))) more = true
    }
    w.state = w.building ? 'rebuilding' : more ? 'catching-up' : 'live'
    return more
  }

  async function runWorker(w: Worker): Promise<void> {
    let failures = 0
    let recheckMs = 0
    while (!stopping) {
      try {
        if (!w.lease) {
          const lease = await leases.acquire(w.p.name, workerId, leaseTtlMs)
          if (!lease) {
            w.state = 'standby'
            // Not the waiter: wake-ups announce appends, and a standby has nothing to do with them.
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, Math.max(200, Math.floor(leaseTtlMs / 4)))
              stopWaiters.add(() => {
                clearTimeout(timer)
                resolve()
              })
            })
            continue
          }
          w.lease = lease
          w.leaseLost = false
          log.info({ projection: w.p.name, token: lease.token.toString() }, 'lease acquired')
          await onAcquired(w)
        }
        const before = w.eventsProcessed
        const more = await step(w)
        failures = 0
        w.lastError = null
        if (w.polled && watcher && w.eventsProcessed > before) missedWakeUp(w)
        // A wake-up that found nothing: the event may still sit behind the log's fence (a transaction
        // open elsewhere on the server). Look again soon, backing off, instead of a whole poll later.
        if (!w.polled && w.eventsProcessed === before) recheckMs = recheckMs === 0 ? 10 : recheckMs * 2
        else recheckMs = 0
        if (recheckMs > pollIntervalMs / 2) recheckMs = 0
        w.polled = false
        if (!more && !stopping) {
          const woken = await w.waiter.wait(recheckMs > 0 ? recheckMs : pollIntervalMs)
          w.polled = !woken && recheckMs === 0
        }
      } catch (error) {
        if (error instanceof Stopping) break
        if (error instanceof CheckpointMoved) continue
        if (isLeaseLostError(error) || w.leaseLost) {
          log.warn({ projection: w.p.name, token: w.lease?.token.toString() }, 'lease lost: standing by')
          w.lease = null
          w.leaseLost = false
          w.live = null
          w.building = null
          w.state = 'standby'
          continue
        }
        failures++
        w.state = 'error'
        w.lastError = error instanceof Error ? error.message : String(error)
        log.error({ projection: w.p.name, err: error, failures }, 'projection step failed: retrying')
        await w.waiter.wait(backoffDelay(failures, 100, 10_000))
      }
    }
    if (w.lease && !w.leaseLost) {
      try {
        await leases.release(w.lease)
      } catch (error) {
        log.warn({ projection: w.p.name, err: error }, 'lease release failed (it will expire)')
      }
    }
    w.lease = null
    w.state = 'stopped'
  }

  // Watchdog over the wake-up source: polling found events nobody announced, so LISTEN may be dead
  // (the watcher reconnects on its own; polling bounds the delay meanwhile).
  function missedWakeUp(w: Worker): void {
    missedWakeUps.inc({ projection: w.p.name })
    if (Date.now() - w.lastMissedWakeWarnAt < 60_000) return
    w.lastMissedWakeWarnAt = Date.now()
    log.warn({ projection: w.p.name, pollIntervalMs }, 'polling found events without a wake-up: is LISTEN down?')
  }

  async function renewLeases(): Promise<void> {
    for (const w of workers) {
      const lease = w.lease
      if (!lease || w.leaseLost) continue
      try {
        const renewed = await leases.renew(lease, leaseTtlMs)
        if (w.lease !== lease) continue
        if (renewed) w.lease = renewed
        else {
          w.leaseLost = true
          w.waiter.wake()
        }
      } catch (error) {
        log.warn({ projection: w.p.name, err: error }, 'lease renewal failed')
      }
    }
  }

  async function stop(): Promise<void> {
    if (!running) return
    stopping = true
    if (renewTimer) clearInterval(renewTimer)
    renewTimer = null
    unsubscribe?.()
    unsubscribe = null
    if (options.handleSignals) {
      process.off('SIGTERM', signalHandler)
      process.off('SIGINT', signalHandler)
    }
    for (const w of workers) w.waiter.wake()
    for (const release of stopWaiters) release()
    stopWaiters.clear()
    await Promise.all(workers.map((w) => w.loop))
    running = false
    log.info({}, 'projection runner stopped')
    markStopped()
  }

  return {
    workerId,
    metrics,
    async start() {
      if (running) throw new ProjectionAlreadyStartedError()
      running = true
      stopping = false
      stopped = new Promise<void>((resolve) => {
        markStopped = resolve
      })
      if (watcher)
        unsubscribe = watcher.onWake(() => {
          for (const w of workers) w.waiter.wake()
        })
      renewTimer = setInterval(() => void renewLeases(), Math.max(100, Math.floor(leaseTtlMs / 3)))
      if (options.handleSignals) {
        process.once('SIGTERM', signalHandler)
        process.once('SIGINT', signalHandler)
      }
      for (const w of workers) w.loop = runWorker(w)
      log.info({ projections: [...byName.keys()] }, 'projection runner started')
    },
    stop,
    whenStopped: () => stopped,
    status() {
      return workers.map((w) => ({
        name: w.p.name,
        version: w.p.version,
        state: w.state,
        owner: w.lease && !w.leaseLost ? workerId : null,
        token: w.lease?.token ?? null,
        liveGeneration: w.live?.generation ?? null,
        checkpoint: w.live?.checkpoint ?? null,
        building: w.building
          ? {
              generation: w.building.generation,
              version: w.building.version,
              checkpoint: w.building.checkpoint,
              eventsDone: w.building.eventsDone,
            }
          : null,
        eventsProcessed: w.eventsProcessed,
        throughput: w.throughput,
        lagEvents: w.lagEvents,
        lagSeconds: w.lagSeconds,
        deadLetters: w.deadLetters,
        lastError: w.lastError,
      }))
    },
    async waitUntilIdle(opts = {}) {
      const deadline = Date.now() + (opts.timeoutMs ?? 30_000)
      for (;;) {
        if (workers.every((w) => w.state === 'live' && w.building === null && w.live?.caughtUp)) {
          // The state is from the last step: ask the log whether anything arrived since.
          let pending = false
          for (const w of workers) {
            const next = await store.readAll({ after: w.live?.checkpoint ?? LOG_START, limit: 1, types: w.p.handles })
            if (next.events.length > 0) pending = true
          }
          if (!pending) return
        }
        if (Date.now() > deadline) {
          const states = workers.map((w) => `${w.p.name}=${w.state}`).join(', ')
          throw new ProjectionTimeoutError(`projections to be idle (${states})`, opts.timeoutMs ?? 30_000)
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
  }
}

function fmt(cp: LogCheckpoint | null): { transactionId: string; position: string } | null {
  return cp ? { transactionId: cp.transactionId.toString(), position: cp.position.toString() } : null
}
