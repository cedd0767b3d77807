import type { Aggregate } from './aggregate.js'
import type { Command } from './command.js'
import { InvalidArgumentError } from './errors.js'
import type { Event, RecordedEvent, StreamId } from './event.js'
import type { EventStore, ReadStreamOptions } from './event-store.js'
import type { Snapshot, SnapshotQuery, SnapshotStore } from './snapshot-store.js'

/** A point in a stream's history: a stream version, a global log position, or a time (inclusive). */
export type AsOf = Readonly<{ version: bigint }> | Readonly<{ position: bigint }> | Readonly<{ time: Date }>

/** Options of {@link loadAggregate}. */
export type LoadAggregateOptions = Readonly<{
  /** Load the state as it was at this point (time travel). Default: now. */
  asOf?: AsOf
}>

/** Where an aggregate's events (and optionally snapshots) live. */
export type AggregateStores = Readonly<{
  store: EventStore
  snapshots?: SnapshotStore
}>

/** An aggregate's state at some version. */
export type LoadedAggregate<S, E extends Event = Event> = Readonly<{
  streamId: StreamId
  state: S
  /** Version of the last event folded into `state` (`0n` when none). */
  version: bigint
  /** The last event folded into `state`, upcast to its latest shape; null when the stream has no event in range. */
  lastEvent: RecordedEvent<E> | null
  /** Stream version of the snapshot the load started from, or null when it replayed from the first event. */
  snapshotVersion: bigint | null
  /** Number of events folded after the snapshot (or from the start). */
  eventsFolded: number
}>

function snapshotQuery(stateVersion: number, asOf: AsOf | undefined): SnapshotQuery {
  if (!asOf) return { stateVersion }
  if ('version' in asOf) return { stateVersion, maxStreamVersion: asOf.version }
  if ('position' in asOf) return { stateVersion, maxGlobalPosition: asOf.position }
  return { stateVersion, maxRecordedAt: asOf.time }
}

function readBounds(asOf: AsOf | undefined): ReadStreamOptions {
  if (!asOf) return {}
  if ('version' in asOf) return { to: asOf.version }
  if ('position' in asOf) return { untilPosition: asOf.position }
  return { untilTime: asOf.time }
}

function validateAsOf(asOf: AsOf | undefined): void {
  if (!asOf) return
  if ('version' in asOf && (typeof asOf.version !== 'bigint' || asOf.version < 0n)) {
    throw new InvalidArgumentError('asOf.version', 'must be a bigint >= 0n')
  }
  if ('position' in asOf && (typeof asOf.position !== 'bigint' || asOf.position < 0n)) {
    throw new InvalidArgumentError('asOf.position', 'must be a bigint >= 0n')
  }
  if ('time' in asOf && !(asOf.time instanceof Date && !Number.isNaN(asOf.time.getTime()))) {
    throw new InvalidArgumentError('asOf.time', 'must be a valid Date')
  }
}

async function usableSnapshot<S>(
  aggregate: Aggregate<S, Command, Event>,
  snapshots: SnapshotStore | undefined,
  streamId: StreamId,
  asOf: AsOf | undefined,
): Promise<{ snapshot: Snapshot; state: S } | null> {
  if (!snapshots) return null
  const snapshot = await snapshots.loadLatest(streamId, snapshotQuery(aggregate.stateVersion, asOf))
  // A store that returns another state version (or nonsense) is not trusted: rebuild instead.
  if (!snapshot || snapshot.stateVersion !== aggregate.stateVersion || snapshot.streamVersion < 1n) return null
  try {
    return { snapshot, state: aggregate.deserializeState(snapshot.state) }
  } catch {
    return null
  }
}

/**
 * Loads an aggregate's state from its stream: the newest usable snapshot at or before the target
 * (same `stateVersion`), then the events after it, each upcast to its latest shape. With `asOf`,
 * the result equals a full replay of the stream up to that version, position or time.
 * Throws `ANNALS_ERR_UNKNOWN_EVENT_TYPE` / `ANNALS_ERR_UNSUPPORTED_SCHEMA_VERSION` rather than skip an event.
 */
export async function loadAggregate<S, C extends Command, E extends Event, CIn extends Command>(
  aggregate: Aggregate<S, C, E, CIn>,
  stores: AggregateStores,
  streamId: StreamId,
  options?: LoadAggregateOptions,
): Promise<LoadedAggregate<S, E>> {
  return loadWith(aggregate as unknown as Aggregate<S, Command, E>, stores, streamId, options)
}

/** @internal Typed core of {@link loadAggregate}. */
export async function loadWith<S, E extends Event>(
  aggregate: Aggregate<S, Command, E>,
  stores: AggregateStores,
  streamId: StreamId,
  options?: LoadAggregateOptions,
): Promise<LoadedAggregate<S, E>> {
  const asOf = options?.asOf
  validateAsOf(asOf)
  const bounds = readBounds(asOf)
  const fromSnapshot = await usableSnapshot(aggregate as Aggregate<S, Command, Event>, stores.snapshots, streamId, asOf)
  if (fromSnapshot) {
    const { snapshot } = fromSnapshot
    // Read from the snapshot's own event: it proves the snapshot matches the stream and gives lastEvent.
    const read = await stores.store.readStream(streamId, { ...bounds, from: snapshot.streamVersion })
    const first = read.events[0]
    if (first && first.streamVersion === snapshot.streamVersion && first.globalPosition === snapshot.globalPosition) {
      let state = fromSnapshot.state
      let lastEvent = aggregate.events.decode(first)
      for (const raw of read.events.slice(1)) {
        lastEvent = aggregate.events.decode(raw)
        state = aggregate.evolve(state, lastEvent)
      }
      return {
        streamId,
        state,
        version: lastEvent.streamVersion,
        lastEvent,
        snapshotVersion: snapshot.streamVersion,
        eventsFolded: read.events.length - 1,
      }
    }
  }
  const read = await stores.store.readStream(streamId, bounds)
  let state = aggregate.initialState()
  let lastEvent: RecordedEvent<E> | null = null
  for (const raw of read.events) {
    lastEvent = aggregate.events.decode(raw)
    state = aggregate.evolve(state, lastEvent)
  }
  return {
    streamId,
    state,
    version: lastEvent?.streamVersion ?? 0n,
    lastEvent,
    snapshotVersion: null,
    eventsFolded: read.events.length,
  }
}

/**
 * @internal Brings a loaded state up to the stream's current version by folding only the events
 * after it (a command handler's retry after a conflict: the tail since the version it had, not a
 * reload from the snapshot).
 */
export async function catchUp<S, E extends Event>(
  aggregate: Aggregate<S, Command, E>,
  store: EventStore,
  loaded: LoadedAggregate<S, E>,
): Promise<LoadedAggregate<S, E>> {
  const read = await store.readStream(loaded.streamId, { from: loaded.version + 1n })
  let { state, lastEvent } = loaded
  for (const raw of read.events) {
    lastEvent = aggregate.events.decode(raw)
    state = aggregate.evolve(state, lastEvent)
  }
  return {
    ...loaded,
    state,
    lastEvent,
    version: lastEvent?.streamVersion ?? loaded.version,
    eventsFolded: loaded.eventsFolded + read.events.length,
  }
}
