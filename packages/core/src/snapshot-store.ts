import type { StreamId } from './event.js'
import { checkInt32, checkInt64, checkName, checkTime } from './stored-values.js'

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

/**
 * Checks a snapshot's stream id, versions, position and time before a store keeps it (the state is
 * the store's to serialise). Throws `ValidationError` or `InvalidArgumentError` naming the field.
 */
export function checkSnapshot(snapshot: Snapshot): void {
  checkName(snapshot.streamId, 'snapshot', ['streamId'])
  checkInt64(snapshot.streamVersion, 'snapshot.streamVersion', 1n)
  checkInt64(snapshot.globalPosition, 'snapshot.globalPosition', 0n)
  checkTime(snapshot.recordedAt, 'snapshot.recordedAt')
  checkInt32(snapshot.stateVersion, 'snapshot.stateVersion', 1)
}

/** Checks the arguments of {@link SnapshotStore.loadLatest}, as {@link checkSnapshot} does. */
export function checkSnapshotQuery(streamId: StreamId, query: SnapshotQuery): void {
  checkName(streamId, 'snapshot', ['streamId'])
  checkInt32(query.stateVersion, 'stateVersion', 1)
  if (query.maxStreamVersion !== undefined) checkInt64(query.maxStreamVersion, 'maxStreamVersion', 0n)
  if (query.maxGlobalPosition !== undefined) checkInt64(query.maxGlobalPosition, 'maxGlobalPosition', 0n)
  if (query.maxRecordedAt !== undefined) checkTime(query.maxRecordedAt, 'maxRecordedAt')
}
