import type { LogCheckpoint, LogWatcher } from '../checkpoint.js'
import { compareCheckpoints, LOG_START } from '../checkpoint.js'
import {
  AppendLimitExceededError,
  ConcurrencyError,
  DuplicateEventIdError,
  InvalidArgumentError,
  TimeTravelBackwardsError,
} from '../errors.js'
import type { Event, EventMetadata, ImportedEvent, NewEvent, RecordedEvent, StreamId } from '../event.js'
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  ReadAllOptions,
  ReadAllResult,
  ReadStreamOptions,
  ReadStreamResult,
  StreamAppend,
} from '../event-store.js'
import { checkExpectedVersion, matchesExpectedVersion } from '../expected-version.js'
import { canonicalJson, newId } from '../ids.js'
import { checkInt32, checkInt64, checkLogCheckpoint, checkName, checkTime, toStoredJson } from '../stored-values.js'

/** Options of {@link createInMemoryEventStore}. */
export type InMemoryEventStoreOptions = Readonly<{
  /** The clock stamping `recordedAt` (default: `new Date()`); tests can make time controllable. */
  clock?: () => Date
  /** Most events one append may carry. Default 10 000. */
  maxEventsPerAppend?: number
}>

/** The in-memory event store: the full {@link EventStore} port plus a log watcher and a reset. */
export interface InMemoryEventStore extends EventStore {
  /** A watcher woken after every committed append. */
  watcher(): LogWatcher
  /** Every recorded event in log order (a copy). */
  allEvents(): readonly RecordedEvent[]
  /** Forgets every event. */
  clear(): void
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

type Stored = RecordedEvent & { readonly contentKey: string }

type PlannedAppend = {
  streamId: StreamId
  events: readonly (NewEvent | ImportedEvent)[]
  duplicateOf: Stored[] | null
}

// Data and metadata go through JSON under the rules of every store, so that tests catch what a real
// store refuses (U+0000, lone surrogates) or does not round-trip (bigints, dates, class instances).
function jsonClone<T>(value: T, subject: string, path: readonly (string | number)[]): T {
  return JSON.parse(toStoredJson(value, subject, path)) as T
}

/**
 * Creates an event store that keeps everything in memory: for unit tests and the zero-setup demo.
 * It implements every rule of the port (and passes `eventStoreContract`), and round-trips data and
 * metadata through JSON like a database would.
 */
export function createInMemoryEventStore(options?: InMemoryEventStoreOptions): InMemoryEventStore {
  const clock = options?.clock ?? (() => new Date())
  const maxEvents = options?.maxEventsPerAppend ?? 10_000
  let log: Stored[] = []
  let streams = new Map<StreamId, Stored[]>()
  let byId = new Map<string, Stored>()
  let nextPosition = 1n
  let nextTransaction = 1n
  const listeners = new Set<() => void>()

  function versionOf(streamId: StreamId): bigint {
    return BigInt(streams.get(streamId)?.length ?? 0)
  }

  function checkStreamId(streamId: StreamId): void {
    checkName(streamId, 'stream id', ['streamId'])
  }

  /** Checks one stream's append without writing; returns the duplicates when it is an idempotent re-send. */
  function plan(
    streamId: StreamId,
    events: readonly (NewEvent | ImportedEvent)[],
    expectedInput: unknown,
    seenInBatch: Set<string>,
  ): PlannedAppend {
    checkStreamId(streamId)
    const expected = checkExpectedVersion(expectedInput)
    if (events.length > maxEvents) throw new AppendLimitExceededError('events', maxEvents, events.length)
    const existing: Stored[] = []
    for (const [i, event] of events.entries()) {
      checkName(event.type, 'event type', [streamId, i, 'type'])
      checkInt32(event.schemaVersion ?? 1, 'schemaVersion', 1)
      // Serialised here too, so that a bad event refuses the whole append before anything is written.
      toStoredJson(event.data ?? null, 'event data', [streamId, i, 'data'])
      toStoredJson(event.metadata ?? {}, 'event metadata', [streamId, i, 'metadata'])
      if (event.eventId === undefined) continue
      if (!UUID.test(event.eventId)) throw new InvalidArgumentError('eventId', `"${event.eventId}" is not a UUID`)
      if (seenInBatch.has(event.eventId)) {
        throw new DuplicateEventIdError(event.eventId, streamId, 'the same id appears twice in one append')
      }
      seenInBatch.add(event.eventId)
      const found = byId.get(event.eventId)
      if (found) existing.push(found)
    }
    const actual = versionOf(streamId)
    if (existing.length === 0) {
      if (!matchesExpectedVersion(expected, actual)) throw new ConcurrencyError(streamId, expected, actual)
      return { streamId, events, duplicateOf: null }
    }
    // Idempotent re-send: every id already stored, in this stream, consecutively, with the same content,
    // at the place the caller expected. Anything else reusing an id is a conflict no retry can fix.
    const first = existing[0]
    const conflict = (eventId: string, reason: string) => new DuplicateEventIdError(eventId, streamId, reason)
    if (existing.length !== events.length) {
      throw conflict(existing[0]?.eventId ?? '', 'some ids of this append were already stored, others not')
    }
    for (let i = 0; i < events.length; i++) {
      const stored = existing[i] as Stored
      const event = events[i] as NewEvent
      if (stored.streamId !== streamId) throw conflict(stored.eventId, `it belongs to stream "${stored.streamId}"`)
      if (first && stored.streamVersion !== first.streamVersion + BigInt(i)) {
        throw conflict(stored.eventId, 'the stored events are not in the same order')
      }
      if (stored.contentKey !== contentKey(event)) throw conflict(stored.eventId, 'it was stored with other content')
    }
    const before = (first as Stored).streamVersion - 1n
    if (!matchesExpectedVersion(expected, before)) {
      throw conflict((first as Stored).eventId, `it was stored after version ${before.toString()}, not as expected`)
    }
    return { streamId, events, duplicateOf: existing }
  }

  function contentKey(event: NewEvent): string {
    return canonicalJson({ type: event.type, data: event.data ?? null })
  }

  function write(planned: PlannedAppend, transactionId: bigint, fixedTime: boolean): AppendResult {
    const { streamId } = planned
    if (planned.duplicateOf) {
      const last = planned.duplicateOf[planned.duplicateOf.length - 1] as Stored
      return { streamId, nextExpectedVersion: last.streamVersion, events: [], duplicate: true }
    }
    const stream = streams.get(streamId) ?? []
    const now = clock()
    const recorded: Stored[] = []
    for (const event of planned.events) {
      const { type, data, eventId, schemaVersion, metadata } = event as NewEvent
      const stored: Stored = {
        type,
        data: jsonClone(data ?? null, 'event data', [streamId, recorded.length, 'data']),
        eventId: eventId ?? newId(),
        streamId,
        streamVersion: BigInt(stream.length + recorded.length + 1),
        globalPosition: nextPosition++,
        transactionId,
        schemaVersion: schemaVersion ?? 1,
        metadata: jsonClone(metadata ?? {}, 'event metadata', [streamId, recorded.length, 'metadata']) as EventMetadata,
        recordedAt: fixedTime ? new Date((event as ImportedEvent).recordedAt.getTime()) : new Date(now.getTime()),
        contentKey: contentKey(event as NewEvent),
      }
      recorded.push(stored)
    }
    for (const stored of recorded) {
      stream.push(stored)
      log.push(stored)
      byId.set(stored.eventId, stored)
    }
    streams.set(streamId, stream)
    return {
      streamId,
      nextExpectedVersion: BigInt(stream.length),
      events: recorded.map(publicEvent),
      duplicate: false,
    }
  }

  function publicEvent(stored: Stored): RecordedEvent {
    const { contentKey: _key, ...event } = stored
    return {
      ...event,
      data: structuredClone(event.data),
      metadata: structuredClone(event.metadata),
      recordedAt: new Date(event.recordedAt.getTime()),
    }
  }

  function wake(): void {
    for (const listener of listeners) queueMicrotask(listener)
  }

  function prepareAll(appends: readonly StreamAppend[]): PlannedAppend[] {
    const seenStreams = new Set<StreamId>()
    const seenIds = new Set<string>()
    return appends.map((append) => {
      if (seenStreams.has(append.streamId)) {
        throw new InvalidArgumentError('appends', `stream "${append.streamId}" appears twice in one atomic append`)
      }
      seenStreams.add(append.streamId)
      return plan(append.streamId, append.events, append.expectedVersion ?? 'any', seenIds)
    })
  }

  const store: InMemoryEventStore = {
    async readStream<E extends Event = Event>(
      streamId: StreamId,
      readOptions?: ReadStreamOptions,
    ): Promise<ReadStreamResult<E>> {
      checkStreamId(streamId)
      const stream = streams.get(streamId) ?? []
      const from = checkInt64(readOptions?.from ?? 1n, 'from', 0n)
      if (readOptions?.to !== undefined) checkInt64(readOptions.to, 'to', 0n)
      if (readOptions?.untilPosition !== undefined) checkInt64(readOptions.untilPosition, 'untilPosition', 0n)
      if (readOptions?.untilTime !== undefined) checkTime(readOptions.untilTime, 'untilTime')
      const limit = readOptions?.limit
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
        throw new InvalidArgumentError('limit', 'must be an integer >= 0')
      }
      const events: RecordedEvent<E>[] = []
      // Versions are array indexes + 1, so a read from a snapshot starts right at its tail.
      const startIndex = from > 1n ? Number(from - 1n) : 0
      for (let index = startIndex; index < stream.length; index++) {
        const stored = stream[index] as Stored
        if (limit !== undefined && events.length >= limit) break
        if (readOptions?.to !== undefined && stored.streamVersion > readOptions.to) break
        if (readOptions?.untilPosition !== undefined && stored.globalPosition > readOptions.untilPosition) break
        if (readOptions?.untilTime !== undefined && stored.recordedAt.getTime() > readOptions.untilTime.getTime()) break
        events.push(publicEvent(stored) as RecordedEvent<E>)
      }
      return { events, currentVersion: BigInt(stream.length), streamExists: stream.length > 0 }
    },

    async appendToStream<E extends Event = Event>(
      streamId: StreamId,
      events: readonly NewEvent<E>[],
      appendOptions?: AppendOptions,
    ): Promise<AppendResult<E>> {
      const [result] = await store.appendToStreams([
        { streamId, events: events as readonly NewEvent[], expectedVersion: appendOptions?.expectedVersion ?? 'any' },
      ])
      return result as AppendResult<E>
    },

    async appendToStreams(appends: readonly StreamAppend[]): Promise<readonly AppendResult[]> {
      const planned = prepareAll(appends)
      const transactionId = nextTransaction++
      const results = planned.map((p) => write(p, transactionId, false))
      if (results.some((r) => r.events.length > 0)) wake()
      return results
    },

    async importToStream<E extends Event = Event>(
      streamId: StreamId,
      events: readonly ImportedEvent<E>[],
      appendOptions?: AppendOptions,
    ): Promise<AppendResult<E>> {
      const planned = plan(
        streamId,
        events as readonly ImportedEvent[],
        appendOptions?.expectedVersion ?? 'any',
        new Set(),
      )
      if (!planned.duplicateOf) {
        const stream = streams.get(streamId) ?? []
        let previous = stream[stream.length - 1]?.recordedAt
        for (const event of events) {
          checkTime(event.recordedAt, 'recordedAt')
          if (previous && event.recordedAt.getTime() < previous.getTime()) {
            throw new TimeTravelBackwardsError(streamId, event.recordedAt, previous)
          }
          previous = event.recordedAt
        }
      }
      const transactionId = nextTransaction++
      const result = write(planned, transactionId, true)
      if (result.events.length > 0) wake()
      return result as AppendResult<E>
    },

    async readAll<E extends Event = Event>(readOptions?: ReadAllOptions): Promise<ReadAllResult<E>> {
      const after: LogCheckpoint = checkLogCheckpoint(readOptions?.after ?? LOG_START, 'after')
      const limit = readOptions?.limit ?? 1000
      if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError('limit', 'must be an integer >= 1')
      const types = readOptions?.types ? new Set(readOptions.types) : null
      const events: RecordedEvent<E>[] = []
      let checkpoint = after
      for (const stored of log) {
        const at = { transactionId: stored.transactionId, position: stored.globalPosition }
        if (compareCheckpoints(at, after) <= 0) continue
        if (types && !types.has(stored.type)) {
          checkpoint = at
          continue
        }
        if (events.length >= limit) return { events, checkpoint, caughtUp: false }
        events.push(publicEvent(stored) as RecordedEvent<E>)
        checkpoint = at
      }
      return { events, checkpoint, caughtUp: true }
    },

    watcher(): LogWatcher {
      const own = new Set<() => void>()
      return {
        onWake(listener: () => void): () => void {
          listeners.add(listener)
          own.add(listener)
          return () => {
            listeners.delete(listener)
            own.delete(listener)
          }
        },
        async close(): Promise<void> {
          for (const listener of own) listeners.delete(listener)
          own.clear()
        },
      }
    },

    allEvents(): readonly RecordedEvent[] {
      return log.map(publicEvent)
    },

    clear(): void {
      log = []
      streams = new Map()
      byId = new Map()
    },
  }
  return store
}

/** A log watcher woken by an in-memory store's appends (same as `store.watcher()`). */
export function createInMemoryLogWatcher(store: InMemoryEventStore): LogWatcher {
  return store.watcher()
}
