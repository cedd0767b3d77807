import type { LogCheckpoint } from '@annals/core'
import type { ProjectionWorker } from './projection-worker.js'

/**
 * What a projection worker is doing. `held`: caught up with what the gap-safe log shows, while
 * committed events it handles wait behind the log's fence (a transaction open elsewhere on the server).
 * `superseded`: its definition is older than the highest version deployed, so it stands by for good
 * (never takes the lease) until it is stopped.
 */
export type ProjectionState =
  | 'starting'
  | 'standby'
  | 'superseded'
  | 'catching-up'
  | 'live'
  | 'held'
  | 'rebuilding'
  | 'error'
  | 'stopped'

/** The transaction that holds the log's fence back, as a projection's status shows it. */
export type FenceHolderInfo = Readonly<{
  /** Backend pid; null for a prepared (two-phase) transaction. */
  pid: number | null
  transactionId: bigint
  /** When the transaction started (the server's clock, as seen when the lag was measured). */
  since: Date
  applicationName: string
  database: string | null
  /** The backend's state, e.g. `idle in transaction`. */
  state: string
  /** The backend's current or last query (empty when this role may not see it; cut to 500 characters). */
  query: string
}>

/** Committed events a projection handles that the log's fence keeps from it, and what holds the fence. */
export type FenceHold = Readonly<{
  /** Handled events committed after the checkpoint at or above the fence (capped like the lag). */
  heldEvents: number
  /** The oldest running transaction on the server; null when it ended before it could be named. */
  holder: FenceHolderInfo | null
}>

/** One projection as seen by the runner that hosts it (see also `getProjectionStatus`). */
export type ProjectionRuntimeStatus = Readonly<{
  name: string
  version: number
  state: ProjectionState
  /** The higher version deployed that keeps this worker out (state `superseded`), else null. */
  supersededBy: number | null
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
  /**
   * Handled events committed after the checkpoint, measured from the head of the log (events the
   * fence holds back count), capped by the counting strategy; refreshed about once a second.
   */
  lagEvents: number
  /** Age of the oldest unprocessed handled event, in seconds (0 when caught up). */
  lagSeconds: number
  /** Set while the log's fence holds committed handled events back (state `held`). */
  fence: FenceHold | null
  deadLetters: number
  /** The last failed step (cleared when a step succeeds again) or the error of the last event parked. */
  lastError: string | null
}>

/** @internal The state to report: `held` when the loop is caught up but the fence holds events back. */
export function reportedState(w: ProjectionWorker): ProjectionState {
  return w.state === 'live' && w.fence !== null ? 'held' : w.state
}

/** @internal The in-process status of one worker (`runner.status()`). */
export function runtimeStatus(w: ProjectionWorker, workerId: string): ProjectionRuntimeStatus {
  return {
    name: w.p.name,
    version: w.p.version,
    state: reportedState(w),
    supersededBy: w.supersededBy,
    owner: w.lease && !w.leaseLost ? workerId : null,
    token: w.lease?.token ?? null,
    liveGeneration: w.live?.generation ?? null,
    checkpoint: w.live?.checkpoint ?? null,
    building: buildingStatus(w, (cp) => cp),
    ...progressFigures(w),
    fence: w.fence,
  }
}

/**
 * @internal The status the lease owner publishes to the registry for other processes: the runtime
 * status in JSON-safe form (bigints as strings).
 */
export function publishedStatus(w: ProjectionWorker, workerId: string): Record<string, unknown> {
  return {
    state: reportedState(w),
    owner: workerId,
    checkpoint: formatCheckpoint(w.live?.checkpoint ?? null),
    liveGeneration: w.live?.generation ?? null,
    building: buildingStatus(w, formatCheckpoint),
    ...progressFigures(w),
    fence: formatFence(w.fence),
  }
}

// The generation being built, with its checkpoint in the form the caller reports (typed or JSON).
function buildingStatus<C>(w: ProjectionWorker, checkpoint: (cp: LogCheckpoint | null) => C) {
  const b = w.building
  return b
    ? { generation: b.generation, version: b.version, checkpoint: checkpoint(b.checkpoint), eventsDone: b.eventsDone }
    : null
}

function progressFigures(w: ProjectionWorker) {
  return {
    eventsProcessed: w.eventsProcessed,
    throughput: w.throughput,
    lagEvents: w.lagEvents,
    lagSeconds: w.lagSeconds,
    deadLetters: w.deadLetters,
    lastError: w.lastError,
  }
}

/** @internal The fence hold as JSON (published status). */
export function formatFence(fence: FenceHold | null): Record<string, unknown> | null {
  if (!fence) return null
  const h = fence.holder
  return {
    heldEvents: fence.heldEvents,
    holder: h ? { ...h, transactionId: h.transactionId.toString(), since: h.since.toISOString() } : null,
  }
}

/** @internal A checkpoint as JSON (logs, published status). */
export function formatCheckpoint(cp: LogCheckpoint | null): { transactionId: string; position: string } | null {
  return cp ? { transactionId: cp.transactionId.toString(), position: cp.position.toString() } : null
}
