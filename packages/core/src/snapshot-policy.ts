import { InvalidArgumentError } from './errors.js'
import type { StreamId } from './event.js'

/** What a snapshot policy sees after a successful append. */
export type SnapshotContext<S = unknown> = Readonly<{
  streamId: StreamId
  /** The state after the append. */
  state: S
  /** The stream version after the append. */
  version: bigint
  /** The stream version before the append. */
  previousVersion: bigint
  /** Number of events the append wrote. */
  eventCount: number
  /** Version of the snapshot the state was loaded from, or null when it was rebuilt from the first event. */
  lastSnapshotVersion: bigint | null
}>

/** Decides whether to save a snapshot after an append. Runs only after the append committed. */
export type SnapshotPolicy<S = unknown> = (context: SnapshotContext<S>) => boolean

/**
 * Snapshots whenever the stream version crosses a multiple of `n` (so an append of several events
 * that jumps over the boundary still snapshots).
 */
export function everyNEvents(n: number): SnapshotPolicy {
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('everyNEvents(n)', 'n must be an integer >= 1')
  const step = BigInt(n)
  return ({ version, previousVersion }) => version / step > previousVersion / step
}
