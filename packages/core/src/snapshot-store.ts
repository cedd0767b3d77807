import type { StreamId } from './event.js'

/**
 * A snapshot of an aggregate's state after `streamVersion`. `stateVersion` is the aggregate's
 * state-schema version: a snapshot written under another version is ignored, never trusted.
 */
export type Snapshot<S = unknown> = Readonly<{
  streamId: StreamId
  streamVersion: bigint
  /** Global position of the last event folded into the state. */
  globalPosition: bigint
  /** `recordedAt` of the last event folded into the state. */
  recordedAt: Date
  stateVersion: number
  state: S
}>

/** Bounds for finding the newest usable snapshot (for loading or for time travel). */
export type SnapshotQuery = Readonly<{
  stateVersion: number
  maxStreamVersion?: bigint
  maxGlobalPosition?: bigint
  maxRecordedAt?: Date
}>

/** Stores snapshots; several per stream may be kept so time travel also starts near its target. */
export interface SnapshotStore {
  save(snapshot: Snapshot): Promise<void>
  /** The newest snapshot of `streamId` within the query's bounds with the same `stateVersion`, or null. */
  loadLatest<S = unknown>(streamId: StreamId, query: SnapshotQuery): Promise<Snapshot<S> | null>
}
