import { type EventStore, LOG_START, type LogCheckpoint, type Worker } from '@annals/core'
import { createWorkerLifecycle } from '@annals/core/runtime'
import type { LogHead, LogHeadOptions } from '@annals/store-postgres'
import { Registry as MetricsRegistry } from 'prom-client'
import { createDeadLetterStore } from '../dead-letters.js'
import { ProjectionAlreadyStartedError, ProjectionTimeoutError } from '../errors.js'
import { createLeaseStore } from '../lease.js'
import { projectionTables } from '../names.js'
import {
  finishGroup,
  type GroupContext,
  groupStatus,
  keepGroup,
  newPartitionGroup,
  type PartitionGroup,
  type PartitionRuntimeStatus,
  runPartitionGroup,
} from '../partitions/partition-group.js'
import { createPartitionLeaseStore } from '../partitions/partition-leases.js'
import { indexProjections } from '../projection.js'
import { createRegistry } from '../registry.js'
import { refreshLag } from './control.js'
import { createLeaseKeeper, type LeaseKeeper, renewalTicker } from './lease-keeper.js'
import { newProjectionWorker, type ProjectionWorker } from './projection-worker.js'
import { finishProjection, runProjectionLoop } from './read-loop.js'
import type { RunnerContext } from './runner-context.js'
import { createPartitionMetrics, createRunnerMetrics } from './runner-metrics.js'
import { type ProjectionRunnerOptions, resolveRunnerSettings } from './runner-options.js'
import { type ProjectionRuntimeStatus, runtimeStatus } from './runner-status.js'

/**
 * Runs projections: one loop per projection, each with its own lease, checkpoint and generations.
 * A projection whose definition is older than the highest version deployed is `superseded`: its loop
 * idles (it logs one warning, keeps asking for the lease at the standby pace and is refused) until
 * the runner stops; it never rebuilds, swaps or writes the read model. `status()` shows `supersededBy`.
 */
export interface ProjectionRunner extends Worker {
  readonly workerId: string
  /** The Prometheus registry holding this runner's metrics. */
  readonly metrics: MetricsRegistry
  /** Starts every projection loop (each first waits for its lease). */
  start(): Promise<void>
  /** Finishes the batch in flight, releases the leases, and resolves when every loop has ended. */
  stop(): Promise<void>
  /** Each projection's state, checkpoint and figures (lag as of the last measurement, about once a second). */
  status(): readonly ProjectionRuntimeStatus[]
  /** The partitions of partitioned projections that this runner owns now, with their checkpoints and lag. */
  partitions(): readonly PartitionRuntimeStatus[]
  /** Resolves once the runner has stopped (after `stop()`, or a signal when `handleSignals` is on). */
  whenStopped(): Promise<void>
  /**
   * Resolves when every projection is owned by this runner, has no rebuild running, and is caught up
   * with the gap-safe log. That log's fence is server-wide: while any transaction on the server is
   * open, later commits are not visible yet, so "idle" means caught up with what the log shows now.
   * It measures the lag afresh before it resolves: `status()` then shows what the fence still holds
   * back (state `held`), or no lag at all.
   */
  waitUntilIdle(options?: Readonly<{ timeoutMs?: number }>): Promise<void>
}

/**
 * Creates a projection runner.
 * @example
 * const runner = createProjectionRunner({ pool, store, watcher, projections: [balances], handleSignals: true })
 * await runner.start()
 */
export function createProjectionRunner(options: ProjectionRunnerOptions): ProjectionRunner {
  const { pool, store, watcher } = options
  const tables = projectionTables(options)
  const byName = indexProjections(options.projections)
  const settings = resolveRunnerSettings(options)
  const { workerId, log } = settings
  const metrics = options.metricsRegistry ?? new MetricsRegistry()
  // Unpartitioned projections keep their one lease and loop each; partitioned ones run as groups.
  const workers: ProjectionWorker[] = [...byName.values()]
    .filter((p) => p.partitions === undefined)
    .map((p) => newProjectionWorker(p))
  const groups: PartitionGroup[] = [...byName.values()].filter((p) => p.partitions !== undefined).map(newPartitionGroup)
  let wakeUps = 0
  const logHead = logHeadOf(store)
  const ctx: RunnerContext = {
    ...settings,
    tables,
    store,
    watcher,
    leases: createLeaseStore(pool, tables),
    registry: createRegistry(pool, tables),
    deadLetters: createDeadLetterStore(pool, tables),
    metrics: createRunnerMetrics(metrics, workers, workerId),
    hooks: options.hooks,
    countPending: options.countPending,
    logHead: logHead ? (after, types) => logHead({ after, types }) : undefined,
    wakeUps: () => wakeUps,
    isStopping: () => lifecycle.stopping,
  }
  const leaseKeeper = createLeaseKeeper(ctx, workers)
  const groupCtx: GroupContext = {
    ...ctx,
    registry: createRegistry(pool, tables, 'partitioned'),
    deadLetters: createDeadLetterStore(pool, tables, 'partitioned'),
    partitionLeases: createPartitionLeaseStore(pool, tables),
  }
  if (groups.length > 0) createPartitionMetrics(metrics, groups)
  const groupKeeper = createGroupKeeper(groupCtx, groups)
  let unsubscribe: (() => void) | undefined
  // Ends the standby waits of the current run; a new one per start.
  let stopRun = new AbortController()

  const lifecycle = createWorkerLifecycle({
    alreadyStarted: () => new ProjectionAlreadyStartedError(),
    handleSignals: options.handleSignals ?? false,
    onStart() {
      stopRun = new AbortController()
      unsubscribe = watcher?.onWake(() => {
        wakeUps++
        for (const w of workers) w.waiter.wake()
        for (const g of groups) g.waiter.wake()
      })
      leaseKeeper.start()
      for (const w of workers) w.loop = runProjectionLoop(ctx, w, stopRun.signal)
      groupKeeper.start()
      for (const g of groups) {
        // The first heartbeat before the first share: a group member knows its peers before it takes any.
        g.loop = keepGroup(groupCtx, g)
          .catch((error) => log.warn({ projection: g.p.name, err: error }, 'first heartbeat failed'))
          .then(() => runPartitionGroup(groupCtx, g))
      }
      log.info({ projections: [...byName.keys()] }, 'projection runner started')
    },
    async onStop() {
      const renewalsSettled = leaseKeeper.stop()
      const groupRenewalsSettled = groupKeeper.stop()
      unsubscribe?.()
      unsubscribe = undefined
      for (const w of workers) w.waiter.wake()
      for (const g of groups) g.waiter.wake()
      stopRun.abort()
      await Promise.all([...workers.map((w) => w.loop), ...groups.map((g) => g.loop)])
      // Only now: a renewal still in flight would revive a released lease.
      await renewalsSettled
      await groupRenewalsSettled
      await Promise.all(workers.map((w) => finishProjection(ctx, w)))
      await Promise.all(groups.map((g) => finishGroup(groupCtx, g)))
      log.info({}, 'projection runner stopped')
    },
  })

  return {
    workerId,
    metrics,
    start: () => lifecycle.start(),
    stop: () => lifecycle.stop(),
    whenStopped: () => lifecycle.whenStopped(),
    status: () => workers.map((w) => runtimeStatus(w, workerId)),
    partitions: () => groups.flatMap(groupStatus),
    async waitUntilIdle(opts = {}) {
      const deadline = Date.now() + (opts.timeoutMs ?? 30_000)
      for (;;) {
        const groupsIdle = groups.every((g) =>
          [...g.parts.values()].every((w) => w.building === null && (w.live?.caughtUp || w.live?.frozen)),
        )
        if (groupsIdle && workers.every((w) => w.state === 'live' && w.building === null && w.live?.caughtUp)) {
          // The state is from the last step: ask the log whether anything arrived since.
          let pending = false
          for (const w of workers) {
            const next = await store.readAll({ after: w.live?.checkpoint ?? LOG_START, limit: 1, types: w.p.handles })
            if (next.events.length > 0) pending = true
          }
          if (!pending) {
            // The figures are from the last control tick, when there may still have been work.
            for (const w of workers) await refreshLag(ctx, w)
            return
          }
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

/**
 * Heartbeats and renews every group's partitions every third of the lease time (one statement for all
 * of a group's partitions); `stop` resolves once no renewal is in flight.
 */
function createGroupKeeper(ctx: GroupContext, groups: readonly PartitionGroup[]): LeaseKeeper {
  const ticker = renewalTicker(ctx.leaseTtlMs, async () => {
    for (const g of groups) {
      try {
        await keepGroup(ctx, g)
      } catch (error) {
        ctx.log.warn({ projection: g.p.name, err: error }, 'partition renewal failed')
      }
    }
  })
  return {
    start() {
      if (groups.length > 0) ticker.start()
    },
    stop: () => ticker.stop(),
  }
}

type LogHeadSource = Readonly<{ logHead(options: LogHeadOptions): Promise<LogHead> }>

// The Postgres store measures the log past its fence; other stores have no fence to see past.
function logHeadOf(
  store: EventStore,
): ((options: { after: LogCheckpoint; types: readonly string[] }) => Promise<LogHead>) | null {
  const source = store as EventStore & Partial<LogHeadSource>
  return typeof source.logHead === 'function' ? (o) => (source as LogHeadSource).logHead(o) : null
}
