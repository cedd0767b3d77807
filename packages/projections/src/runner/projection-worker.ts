import type { LogCheckpoint, RecordedEvent } from '@annals/core'
import { createWaiter, type Waiter } from '@annals/core/runtime'
import { LeaseLostError } from '../errors.js'
import type { Lease } from '../lease.js'
import type { ProjectionTables } from '../names.js'
import type { AnyProjection } from '../projection.js'
import type { SinkTarget } from '../sink.js'
import type { FenceHold, ProjectionState } from './runner-status.js'

/** @internal One generation of a projection as the runner drives it: where it is, what is blocked. */
export type Track = {
  generation: number
  version: number
  checkpoint: LogCheckpoint | null
  /** Streams with a parked event: their later events are parked behind it, in order. */
  blocked: Set<string>
  eventsDone: number
  caughtUp: boolean
  /** The live generation of an older version: readers keep it, but its handlers are gone. */
  frozen: boolean
}

/** @internal The runner's state for one hosted projection: its lease, generations and counters. */
export type ProjectionWorker = {
  readonly p: AnyProjection
  /** The partition this worker state drives, for a partitioned projection (absent: the whole projection). */
  readonly partition?: number
  lease: Lease | null
  /** Set as soon as anything learns the lease is gone; the loop then drops its state and stands by. */
  leaseLost: boolean
  live: Track | null
  building: Track | null
  state: ProjectionState
  /** The higher version deployed that keeps this worker out, once the lease store said so. */
  supersededBy: number | null
  lastError: string | null
  eventsProcessed: number
  processedAtLastTick: number
  lastTickAt: number
  throughput: number
  lagEvents: number
  lagSeconds: number
  /** What the fence holds back, as of the last lag measurement (cleared when the live checkpoint moves). */
  fence: FenceHold | null
  deadLetters: number
  lastControlAt: number
  readonly waiter: Waiter
  loop: Promise<void> | null
  /** The last wait ended by the timer, not by a wake-up. */
  polled: boolean
  /** The runner's wake-up count when the previous step ended (see `missedWakeUp` in read-loop.ts). */
  wakeUpsSeen: number
  /** A wake-up came and the read after it found nothing new: its events may still sit behind the fence. */
  wakeUnanswered: boolean
  lastMissedWakeWarnAt: number
  lastLagAt: number
  /** The fence holder (transaction id) the last stall warning named; null while nothing is held. */
  stallWarnedFor: string | null
}

/** @internal Thrown inside the loop when the stored checkpoint moved under us: re-read from the stored one. */
export class CheckpointMoved extends Error {}
/** @internal Thrown inside the loop to abandon work when stopping. */
export class Stopping extends Error {}

/** @internal A fresh worker, before it holds its lease. */
export function newProjectionWorker(p: AnyProjection, partition?: number): ProjectionWorker {
  return {
    p,
    ...(partition === undefined ? {} : { partition }),
    lease: null,
    leaseLost: false,
    live: null,
    building: null,
    state: 'starting',
    supersededBy: null,
    lastError: null,
    eventsProcessed: 0,
    processedAtLastTick: 0,
    lastTickAt: Date.now(),
    throughput: 0,
    lagEvents: 0,
    lagSeconds: 0,
    fence: null,
    deadLetters: 0,
    lastControlAt: 0,
    waiter: createWaiter(),
    loop: null,
    polled: false,
    wakeUpsSeen: 0,
    wakeUnanswered: false,
    lastMissedWakeWarnAt: 0,
    lastLagAt: 0,
    stallWarnedFor: null,
  }
}

/** @internal A track before its checkpoint and blocked streams are loaded. */
export function newTrack(generation: number, version: number): Track {
  return { generation, version, checkpoint: null, blocked: new Set(), eventsDone: 0, caughtUp: false, frozen: false }
}

/** @internal The checkpoint just after `event`. */
export function checkpointOf(event: RecordedEvent): LogCheckpoint {
  return { transactionId: event.transactionId, position: event.globalPosition }
}

/** @internal Where a generation of the worker's projection lives in its sink. */
export function sinkTarget(tables: ProjectionTables, w: ProjectionWorker, generation: number): SinkTarget {
  const target = { projection: w.p.name, generation, schema: tables.schema, tablePrefix: tables.tablePrefix }
  return w.partition === undefined ? target : { ...target, partition: w.partition }
}

/** @internal The lease to write under; throws `LeaseLostError` when there is none or it is known lost. */
export function leaseOf(w: ProjectionWorker): Lease {
  if (!w.lease || w.leaseLost) throw new LeaseLostError(w.p.name, w.lease?.token ?? 0n)
  return w.lease
}

/** @internal Records that a write was refused under `lease` (a newer owner exists) and throws. */
export function loseLease(w: ProjectionWorker, lease: Lease): never {
  w.leaseLost = true
  throw new LeaseLostError(w.p.name, lease.token)
}
