import type { LogCheckpoint } from '@annals/core'
import type { ProjectionWorker } from './projection-worker.js'

/**
 * What a projection worker is doing. `superseded`: its definition is older than the highest version
 * deployed, so it stands by for good (never takes the lease) until it is stopped.
 */
export type ProjectionState =
  | 'starting'
  | 'standby'
  | 'superseded'
  | 'catching-up'
  | 'live'
  | 'rebuilding'
  | 'error'
  | 'stopped'

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
  /** Handled events after the checkpoint (capped by the counting strategy), refreshed every status interval. */
  lagEvents: number
  /** Age of the oldest unprocessed handled event, in seconds (0 when caught up). */
  lagSeconds: number
  deadLetters: number
  lastError: string | null
}>

/** @internal The in-process status of one worker (`runner.status()`). */
export function runtimeStatus(w: ProjectionWorker, workerId: string): ProjectionRuntimeStatus {
  return {
    name: w.p.name,
    version: w.p.version,
    state: w.state,
    supersededBy: w.supersededBy,
    owner: w.lease && !w.leaseLost ? workerId : null,
    token: w.lease?.token ?? null,
    liveGeneration: w.live?.generation ?? null,
    checkpoint: w.live?.checkpoint ?? null,
    building: buildingStatus(w, (cp) => cp),
    ...progressFigures(w),
  }
}

/**
 * @internal The status the lease owner publishes to the registry for other processes: the runtime
 * status in JSON-safe form (bigints as strings).
 */
export function publishedStatus(w: ProjectionWorker, workerId: string): Record<string, unknown> {
  return {
    state: w.state,
    owner: workerId,
    checkpoint: formatCheckpoint(w.live?.checkpoint ?? null),
    liveGeneration: w.live?.generation ?? null,
    building: buildingStatus(w, formatCheckpoint),
    ...progressFigures(w),
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

/** @internal A checkpoint as JSON (logs, published status). */
export function formatCheckpoint(cp: LogCheckpoint | null): { transactionId: string; position: string } | null {
  return cp ? { transactionId: cp.transactionId.toString(), position: cp.position.toString() } : null
}
