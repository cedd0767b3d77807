import { randomUUID } from 'node:crypto'
import {
  AppendLimitExceededError,
  DuplicateEventIdError,
  type EventMetadata,
  type ExpectedVersion,
  type ImportedEvent,
  InvalidArgumentError,
  type NewEvent,
  type StreamAppend,
  type StreamId,
  TimeTravelBackwardsError,
  ValidationError,
} from '@annals/core'
import { checkExpectedVersion, checkInt32, checkName, checkTime, toStoredJson } from '@annals/core/runtime'
import { PgInvalidOptionError } from '../errors.js'

/** Per-append caps (`ANNALS_ERR_APPEND_LIMIT_EXCEEDED` beyond them). */
export type AppendLimits = Readonly<{
  /** Most events in one append (all streams together). Default 10 000. */
  maxEventsPerAppend?: number
  /** Most bytes of JSON data + metadata in one append. Default 16 MiB. */
  maxBytesPerAppend?: number
}>

/** @internal Validated limits. */
export type ResolvedLimits = Readonly<{ maxEvents: number; maxBytes: number }>

/** @internal One stream's part of an append, validated and serialised for the SQL arrays. */
export type PreparedAppend = {
  streamId: StreamId
  expected: ExpectedVersion
  /** The expected version as the append function's code (-1 any, 0 no stream, -2 stream exists). */
  expectedCode: string
  events: readonly (NewEvent | ImportedEvent)[]
  ids: string[]
  /** True when the caller chose ids: a re-send must be recognised. */
  checkIds: boolean
  data: string[]
  metadata: string[]
  metadataObjects: EventMetadata[]
  schemaVersions: number[]
  recordedAt: (string | null)[]
}

/** @internal What an event id or outbox message id must look like (the columns are `uuid`). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** @internal Validates the `limits` option. */
export function resolveLimits(limits: AppendLimits | undefined): ResolvedLimits {
  const maxEvents = limits?.maxEventsPerAppend ?? 10_000
  const maxBytes = limits?.maxBytesPerAppend ?? 16 * 1024 * 1024
  if (!Number.isInteger(maxEvents) || maxEvents < 1) {
    throw new PgInvalidOptionError('limits.maxEventsPerAppend', 'must be an integer >= 1')
  }
  if (!Number.isInteger(maxBytes) || maxBytes < 1) {
    throw new PgInvalidOptionError('limits.maxBytesPerAppend', 'must be an integer >= 1')
  }
  return { maxEvents, maxBytes }
}

function expectedCode(expected: ExpectedVersion): string {
  if (typeof expected === 'bigint') return expected.toString()
  return expected === 'any' ? '-1' : expected === 'no-stream' ? '0' : '-2'
}

/** @internal Validates and serialises an atomic append of one or more streams, within the limits. */
export function prepareAppends(
  appends: readonly StreamAppend[],
  imported: boolean,
  limits: ResolvedLimits,
): PreparedAppend[] {
  if (!Array.isArray(appends)) throw new InvalidArgumentError('appends', 'must be an array')
  const seenStreams = new Set<StreamId>()
  const seenIds = new Set<string>()
  const prepared = appends.map((append, index) => {
    if (seenStreams.has(append.streamId)) {
      throw new InvalidArgumentError('appends', `stream "${append.streamId}" appears twice in one atomic append`)
    }
    seenStreams.add(append.streamId)
    return prepare(append, imported, seenIds, index)
  })
  checkLimits(prepared, limits)
  return prepared
}

function prepare(append: StreamAppend, imported: boolean, seenIds: Set<string>, index: number): PreparedAppend {
  const streamId = checkName(append.streamId, 'stream id', ['appends', index, 'streamId'])
  const expected = checkExpectedVersion(append.expectedVersion ?? 'any')
  const code = expectedCode(expected)
  if (!Array.isArray(append.events)) throw new InvalidArgumentError('events', 'must be an array')
  const prepared: PreparedAppend = {
    streamId,
    expected,
    expectedCode: code,
    events: append.events,
    ids: [],
    checkIds: false,
    data: [],
    metadata: [],
    metadataObjects: [],
    schemaVersions: [],
    recordedAt: [],
  }
  let previous: Date | undefined
  append.events.forEach((event: NewEvent | ImportedEvent, i) => {
    const path = [streamId, i]
    checkName(event.type, 'event type', [...path, 'type'])
    let id = event.eventId
    if (id === undefined) {
      id = randomUUID()
    } else {
      if (typeof id !== 'string' || !UUID.test(id)) throw new InvalidArgumentError('eventId', `"${id}" is not a UUID`)
      prepared.checkIds = true
      id = id.toLowerCase()
    }
    if (seenIds.has(id)) throw new DuplicateEventIdError(id, streamId, 'the same id appears twice in one append')
    seenIds.add(id)
    const schemaVersion = checkInt32(event.schemaVersion ?? 1, 'schemaVersion', 1)
    const metadata = event.metadata ?? {}
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new ValidationError('event metadata', [{ path: [...path, 'metadata'], message: 'must be an object' }])
    }
    prepared.ids.push(id)
    prepared.schemaVersions.push(schemaVersion)
    prepared.data.push(toStoredJson(event.data ?? null, 'event data', [...path, 'data']))
    prepared.metadata.push(toStoredJson(metadata, 'event metadata', [...path, 'metadata']))
    prepared.metadataObjects.push(metadata)
    if (imported) {
      const at = checkTime((event as ImportedEvent).recordedAt, 'recordedAt')
      if (previous && at.getTime() < previous.getTime()) throw new TimeTravelBackwardsError(streamId, at, previous)
      previous = at
      prepared.recordedAt.push(at.toISOString())
    } else {
      prepared.recordedAt.push(null)
    }
  })
  return prepared
}

function checkLimits(prepared: readonly PreparedAppend[], { maxEvents, maxBytes }: ResolvedLimits): void {
  let count = 0
  let bytes = 0
  for (const p of prepared) {
    count += p.events.length
    for (let i = 0; i < p.data.length; i++) bytes += (p.data[i] as string).length + (p.metadata[i] as string).length
  }
  if (count > maxEvents) throw new AppendLimitExceededError('events', maxEvents, count)
  // String length undercounts UTF-8 bytes at most 3x: measure exactly only when it could matter.
  if (bytes * 3 > maxBytes) {
    bytes = 0
    for (const p of prepared) {
      for (let i = 0; i < p.data.length; i++) {
        bytes += Buffer.byteLength(p.data[i] as string) + Buffer.byteLength(p.metadata[i] as string)
      }
    }
    if (bytes > maxBytes) throw new AppendLimitExceededError('bytes', maxBytes, bytes)
  }
}
