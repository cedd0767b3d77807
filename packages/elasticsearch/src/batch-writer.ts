import type { RecordedEvent } from '@annals/core'
import { InvalidDocumentVersionError, InvalidElasticsearchOptionError } from './errors.js'
import { CHECKPOINT_ID, KIND_FIELD } from './names.js'

/** A document a projection stores: a plain JSON object. */
export type SearchDocument = Readonly<Record<string, unknown>>

/**
 * What an Elasticsearch projection handler writes with. Every write names the event it comes from: the
 * event's version (stream version by default) becomes the document's external version, so a redelivered
 * or reordered event never takes a document back to an older state.
 */
export interface ElasticsearchWriter<Doc extends object = SearchDocument> {
  /** Replaces the whole document `id` with `doc`, as of `event`. */
  index(event: RecordedEvent, id: string, doc: Doc): void
  /** Deletes document `id` as of `event`. A tombstone keeps its version, so a stale redelivery cannot revive it. */
  delete(event: RecordedEvent, id: string): void
  /**
   * Reads document `id` (this batch's earlier writes first, then the engine), passes it to `change`
   * (`null` when absent or deleted) and stores what `change` returns (`null` deletes). Skipped when the
   * document already reflects `event` (its version is not older): a redelivered event is applied once.
   */
  update(event: RecordedEvent, id: string, change: (current: Doc | null) => Doc | null): Promise<void>
  /** The document as this batch sees it (`null` when absent or deleted). */
  get(id: string): Promise<Doc | null>
}

/** Which number of an event becomes the external version of the documents it writes. */
export type VersionSource = 'streamVersion' | 'globalPosition' | ((event: RecordedEvent) => bigint)

/** @internal A document as fetched from the engine: its external version and source (`null`: tombstone). */
export type StoredDocument<Doc> = Readonly<{ version: bigint; doc: Doc | null }>

/** @internal One document's final write in a batch. */
export type PendingWrite<Doc> = Readonly<{
  id: string
  version: bigint
  /** `null` writes a tombstone. */
  doc: Doc | null
  /** Every event (by id) whose write this one carries: all of them are parked if the engine refuses it. */
  eventIds: readonly string[]
}>

const MAX_EXTERNAL_VERSION = 9_223_372_036_854_775_807n

/** @internal Resolves the version function of a {@link VersionSource}. */
export function versionFunction(source: VersionSource = 'streamVersion'): (event: RecordedEvent) => bigint {
  if (source === 'streamVersion') return (e) => e.streamVersion
  if (source === 'globalPosition') return (e) => e.globalPosition
  if (typeof source === 'function') return source
  throw new InvalidElasticsearchOptionError(
    'version',
    `expected streamVersion, globalPosition or a function (got ${String(source)})`,
  )
}

/** @internal A batch's writer plus what the sink needs after the handlers ran. */
export type BatchWriter<Doc extends object> = ElasticsearchWriter<Doc> & {
  /** Marks the end of one event's handling (called by `defineElasticsearchProjection`, for exact dead letters). */
  endEvent(): void
  /** The batch's writes, one per document (the newest version wins), in first-write order. */
  writes(): readonly PendingWrite<Doc>[]
  /** The batch index of an event seen by this writer. */
  eventIndex(eventId: string): number | undefined
}

/** @internal */
export function createBatchWriter<Doc extends object>(options: {
  versionOf: (event: RecordedEvent) => bigint
  fetch: (id: string) => Promise<StoredDocument<Doc> | null>
  /** The batch's events when the runner provides them (exact event indexes). */
  events?: readonly RecordedEvent[] | undefined
}): BatchWriter<Doc> {
  const pending = new Map<string, { version: bigint; doc: Doc | null; eventIds: Set<string> }>()
  const fetched = new Map<string, StoredDocument<Doc> | null>()
  // Batch indexes: from the runner's list when given; else counted by endEvent() (one call per event
  // from defineElasticsearchProjection); else, as a last resort, the order events first wrote in.
  const given = options.events ? new Map(options.events.map((e, i) => [e.eventId, i])) : null
  const counted = new Map<string, number>()
  const firstSeen = new Map<string, number>()
  let done = 0

  function see(event: RecordedEvent): bigint {
    if (!counted.has(event.eventId)) counted.set(event.eventId, done)
    if (!firstSeen.has(event.eventId)) firstSeen.set(event.eventId, firstSeen.size)
    return options.versionOf(event)
  }

  function checkId(id: string): void {
    if (typeof id !== 'string' || id.length === 0 || Buffer.byteLength(id) > 512) {
      throw new InvalidElasticsearchOptionError(
        'document id',
        `must be a non-empty string of at most 512 bytes (got ${JSON.stringify(id)})`,
      )
    }
    if (id === CHECKPOINT_ID) throw new InvalidElasticsearchOptionError('document id', `"${CHECKPOINT_ID}" is reserved`)
  }

  function checkVersion(id: string, version: bigint): void {
    if (typeof version !== 'bigint' || version < 1n || version > MAX_EXTERNAL_VERSION) {
      throw new InvalidDocumentVersionError(id, typeof version === 'bigint' ? version : -1n)
    }
  }

  async function current(id: string): Promise<StoredDocument<Doc> | null> {
    const p = pending.get(id)
    if (p) return { version: p.version, doc: p.doc }
    if (!fetched.has(id)) fetched.set(id, await options.fetch(id))
    return fetched.get(id) ?? null
  }

  function write(event: RecordedEvent, id: string, version: bigint, doc: Doc | null): void {
    const p = pending.get(id)
    // The engine would refuse a version that is not newer (409); skipping here keeps the newest state.
    if (p && p.version >= version) return
    const eventIds = p?.eventIds ?? new Set<string>()
    eventIds.add(event.eventId)
    pending.set(id, { version, doc, eventIds })
  }

  return {
    index(event, id, doc) {
      checkId(id)
      const version = see(event)
      checkVersion(id, version)
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
        throw new InvalidElasticsearchOptionError('document', `index() needs an object for "${id}"`)
      }
      if (KIND_FIELD in doc) throw new InvalidElasticsearchOptionError('document', `field "${KIND_FIELD}" is reserved`)
      write(event, id, version, doc)
    },
    delete(event, id) {
      checkId(id)
      const version = see(event)
      checkVersion(id, version)
      write(event, id, version, null)
    },
    async update(event, id, change) {
      checkId(id)
      const version = see(event)
      checkVersion(id, version)
      const base = await current(id)
      if (base && base.version >= version) return
      const next = change(base?.doc ?? null)
      if (next !== null && (typeof next !== 'object' || Array.isArray(next))) {
        throw new InvalidElasticsearchOptionError('document', `update() of "${id}" must return an object or null`)
      }
      if (next !== null && KIND_FIELD in next) {
        throw new InvalidElasticsearchOptionError('document', `field "${KIND_FIELD}" is reserved`)
      }
      write(event, id, version, next)
    },
    async get(id) {
      checkId(id)
      return (await current(id))?.doc ?? null
    },
    endEvent() {
      done++
    },
    writes() {
      return [...pending].map(([id, p]) => ({ id, version: p.version, doc: p.doc, eventIds: [...p.eventIds] }))
    },
    eventIndex(eventId) {
      if (given) return given.get(eventId)
      if (done > 0) return counted.get(eventId)
      return firstSeen.get(eventId)
    },
  }
}
