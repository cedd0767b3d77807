import type { LogCheckpoint } from './checkpoint.js'
import type { Event, ImportedEvent, NewEvent, RecordedEvent, StreamId } from './event.js'
import type { ExpectedVersion, VersionsAreBigints_Write1nNot1 } from './expected-version.js'

/**
 * Bounds for reading one stream. Versions are inclusive and count from 1. `to`, `untilPosition` and
 * `untilTime` may be combined; the read stops at the first event past any of them (time travel).
 */
export type ReadStreamOptions = Readonly<{
  /** First version to return (inclusive). Default 1. */
  from?: bigint
  /** Last version to return (inclusive). */
  to?: bigint
  /** Only events with `globalPosition <= untilPosition`. */
  untilPosition?: bigint
  /** Only events recorded at or before this time (database time). */
  untilTime?: Date
  /** At most this many events. */
  limit?: number
}>

/** What {@link EventStore.readStream} returns. */
export type ReadStreamResult<E extends Event = Event> = Readonly<{
  events: readonly RecordedEvent<E>[]
  /** The stream's current version, regardless of the bounds asked for (`0n` when it does not exist). */
  currentVersion: bigint
  streamExists: boolean
}>

/** Options of one append. */
export type AppendOptions = Readonly<{
  /** Default `'any'`. A bigint (`1n`): a number does not compile and throws `ANNALS_ERR_INVALID_ARGUMENT`. */
  expectedVersion?: ExpectedVersion | VersionsAreBigints_Write1nNot1
}>

/** What one stream's append produced. */
export type AppendResult<E extends Event = Event> = Readonly<{
  streamId: StreamId
  /** The stream's version after the append: pass it as `expectedVersion` of the next append. */
  nextExpectedVersion: bigint
  /** The stored events, with their envelopes. Empty when the append was an idempotent repeat. */
  events: readonly RecordedEvent<E>[]
  /** True when every event id had already been appended with the same content (nothing written). */
  duplicate: boolean
}>

/** One stream's part of an atomic multi-stream append. */
export type StreamAppend<E extends Event = Event> = Readonly<{
  streamId: StreamId
  events: readonly NewEvent<E>[]
  /** Default `'any'`. A bigint (`1n`), as in {@link AppendOptions}. */
  expectedVersion?: ExpectedVersion | VersionsAreBigints_Write1nNot1
}>

/** Options for reading the global log. */
export type ReadAllOptions = Readonly<{
  /** Return events strictly after this checkpoint. Default: from the beginning. */
  after?: LogCheckpoint
  /** Batch size. Default 1000. */
  limit?: number
  /** Only these event types (filtered in the store, not in memory). */
  types?: readonly string[]
}>

/** A batch of the global log. */
export type ReadAllResult<E extends Event = Event> = Readonly<{
  events: readonly RecordedEvent<E>[]
  /**
   * Where the next read starts. Past the last returned event, and possibly further when events were
   * filtered out by `types`; never past an event that could still become visible.
   */
  checkpoint: LogCheckpoint
  /** True when the read reached the current safe head of the log (nothing more to read right now). */
  caughtUp: boolean
}>

/**
 * The event store port. Streams are append-only sequences of events with optimistic concurrency;
 * the global log orders every event of every stream in commit-safe order.
 *
 * The store validates nothing about event *content* beyond what it must (ids, types, sizes): typed
 * validation and upcasting happen in the event registry, before append and after read.
 */
export interface EventStore {
  /** Reads one stream forward within the given bounds. A missing stream yields no events, not an error. */
  readStream<E extends Event = Event>(streamId: StreamId, options?: ReadStreamOptions): Promise<ReadStreamResult<E>>
  /** Appends events to one stream atomically. Throws `ConcurrencyError` when `expectedVersion` does not match. */
  appendToStream<E extends Event = Event>(
    streamId: StreamId,
    events: readonly NewEvent<E>[],
    options?: AppendOptions,
  ): Promise<AppendResult<E>>
  /** Appends to several streams in one transaction: all or nothing. */
  appendToStreams(appends: readonly StreamAppend[]): Promise<readonly AppendResult[]>
  /**
   * Appends historical events with their original `recordedAt` (backfills, migrations, seeding).
   * Times must not go backwards within the stream nor precede its last event.
   */
  importToStream<E extends Event = Event>(
    streamId: StreamId,
    events: readonly ImportedEvent<E>[],
    options?: AppendOptions,
  ): Promise<AppendResult<E>>
  /** Reads the global log after a checkpoint, without gaps: an event committed late is never skipped. */
  readAll<E extends Event = Event>(options?: ReadAllOptions): Promise<ReadAllResult<E>>
}
