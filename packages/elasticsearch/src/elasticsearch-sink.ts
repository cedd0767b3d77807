import { compareCheckpoints, type LogCheckpoint, type RecordedEvent } from '@annals/core'
import type { ReadModelSink, SinkBatch, SinkCommitResult, SinkRejection, SinkTarget } from '@annals/projections'
import { type Client, errors, type estypes } from '@elastic/elasticsearch'
import { type Logger, pino } from 'pino'
import {
  createBatchWriter,
  type ElasticsearchWriter,
  type PendingWrite,
  type SearchDocument,
  type StoredDocument,
  type VersionSource,
  versionFunction,
} from './batch-writer.js'
import {
  DocumentRejectedError,
  ElasticsearchRequestFailedError,
  IndexSetupError,
  InvalidElasticsearchOptionError,
} from './errors.js'
import {
  aliasName,
  assertIndexPrefix,
  CHECKPOINT_ID,
  DEFAULT_INDEX_PREFIX,
  generationIndexName,
  generationOf,
  KIND_FIELD,
  META_FIELD,
} from './names.js'
import {
  backoff,
  type EngineRetryOptions,
  isRetryableStatus,
  reasonOf,
  retryPolicy,
  sleep,
  statusOf,
  withRetry,
} from './retry.js'

/** Options of {@link createElasticsearchSink}. */
export type ElasticsearchSinkOptions = Readonly<{
  /** Your client (the sink never closes it). For OpenSearch, build it with `connectSearchEngine` or `createOpenSearchCompatibleClient`. */
  client: Client
  /** Prefix of the alias (`<prefix><projection>`) and of each generation's index (`<alias>__g<n>`). Default `annals-`. */
  indexPrefix?: string
  /** The projection's mappings. The sink adds its two fields (`annals_kind`, `annals_meta`). */
  mappings?: estypes.MappingTypeMapping
  /** Index settings of every generation (analysis, refresh interval…). */
  settings?: estypes.IndicesIndexSettings
  /** `number_of_shards` of each generation. Default 1. */
  shards?: number
  /** `number_of_replicas` of each generation. Default 0 (single-node clusters); set 1+ in production. */
  replicas?: number
  /** Which event number becomes the documents' external version. Default `streamVersion`. */
  version?: VersionSource
  /** Backoff for 429, 502-504 and transport errors. */
  retry?: EngineRetryOptions
  /**
   * How long to keep the previous generation after the alias moved before `drop` deletes it, so a search
   * that resolved the alias just before the swap still finds its index. Default 1000 ms.
   */
  dropGraceMs?: number
  /** `refresh` of each bulk (`wait_for` makes writes visible before the checkpoint moves). Default false. */
  refresh?: boolean | 'wait_for'
  /**
   * Documents per generation this sink remembers after writing them, so `update` does not re-read them
   * from the engine in the next batch (it is this lease holder's own writes; cleared when the lease or the
   * checkpoint moves under it). 0 turns it off. Default 20000.
   */
  cacheSize?: number
  /** Default: pino at `ANNALS_LOG_LEVEL` (else `info`). */
  logger?: Logger
}>

/** An Elasticsearch / OpenSearch sink: the runner's port plus the names readers need. */
export type ElasticsearchSink<Doc extends object = SearchDocument> = ReadModelSink<ElasticsearchWriter<Doc>> &
  Readonly<{
    kind: 'elasticsearch'
    client: Client
    indexPrefix: string
    /** The alias readers query for `projection`. */
    aliasOf(projection: string): string
    /** The concrete index of one generation. */
    indexOf(projection: string, generation: number): string
  }>

type CheckpointState = Readonly<{
  /** False when the generation's index does not exist. */
  indexExists: boolean
  seqNo: number | null
  primaryTerm: number | null
  checkpoint: LogCheckpoint | null
  token: bigint
  replayed: readonly string[]
}>

type MetaSource = {
  [KIND_FIELD]: 'checkpoint'
  [META_FIELD]: { transactionId: string | null; position: string | null; token: string; replayed: string[] }
}

// The alias hides the sink's own documents (tombstones, the checkpoint) from every search through it.
const READER_FILTER: estypes.QueryDslQueryContainer = { bool: { must_not: [{ exists: { field: KIND_FIELD } }] } }

function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value
}

function sameCheckpoint(a: LogCheckpoint | null, b: LogCheckpoint | null): boolean {
  if (a === null || b === null) return a === b
  return compareCheckpoints(a, b) === 0
}

function nonNegativeInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < 0)
    throw new InvalidElasticsearchOptionError(name, `must be an integer >= 0 (got ${String(v)})`)
  return v
}

/** @internal The engine's answer for one bulk item. */
type BulkItem = {
  status: number
  error?: { type?: string; reason?: string; caused_by?: { type?: string; reason?: string } }
}

/**
 * A read model in Elasticsearch 8/9 or OpenSearch 2.x. Each generation is its own index behind one alias;
 * `activate` moves the alias in one `_aliases` call. Writes are effectively-once without transactions:
 * every document carries an external version (the event's stream version by default), redelivered or
 * older writes are refused by the engine (409, taken as success), deletes leave versioned tombstones,
 * and the checkpoint (a document inside the generation's index, with a compare-and-set on its sequence
 * number) moves only after the bulk succeeded. A document the engine rejects is reported back to the
 * runner, which parks its event(s) as dead letters; the rest of the batch stays applied.
 * @example
 * const sink = createElasticsearchSink<AccountDoc>({ client, mappings: { properties: { owner: { type: 'text' } } } })
 * const accounts = defineElasticsearchProjection({ name: 'accounts', version: 1, handles: [AccountOpened], sink,
 *   handlers: { AccountOpened: (e, es) => es.index(e, e.streamId, { owner: e.data.owner, balance: 0 }) } })
 */
export function createElasticsearchSink<Doc extends object = SearchDocument>(
  options: ElasticsearchSinkOptions,
): ElasticsearchSink<Doc> {
  const { client } = options
  if (!client || typeof client.bulk !== 'function')
    throw new InvalidElasticsearchOptionError('client', 'pass an @elastic/elasticsearch Client')
  const indexPrefix = assertIndexPrefix(options.indexPrefix ?? DEFAULT_INDEX_PREFIX)
  const shards = nonNegativeInt('shards', options.shards, 1)
  if (shards < 1) throw new InvalidElasticsearchOptionError('shards', 'must be >= 1')
  const replicas = nonNegativeInt('replicas', options.replicas, 0)
  const dropGraceMs = nonNegativeInt('dropGraceMs', options.dropGraceMs, 1000)
  const cacheSize = nonNegativeInt('cacheSize', options.cacheSize, 20_000)
  // Per index: documents as this sink last wrote them (accepted by the engine), oldest first.
  const caches = new Map<string, Map<string, StoredDocument<Doc>>>()
  const forget = (index: string) => caches.delete(index)
  function remember(index: string, id: string, value: StoredDocument<Doc> | null): void {
    if (cacheSize === 0) return
    let cache = caches.get(index)
    if (!cache) {
      cache = new Map()
      caches.set(index, cache)
    }
    cache.delete(id)
    if (value === null) return
    cache.set(id, value)
    if (cache.size > cacheSize) {
      const oldest = cache.keys().next()
      if (!oldest.done) cache.delete(oldest.value)
    }
  }
  const versionOf = versionFunction(options.version)
  const policy = retryPolicy(options.retry)
  const log = options.logger ?? pino({ name: 'annals-elasticsearch', level: process.env.ANNALS_LOG_LEVEL ?? 'info' })
  const refresh = options.refresh ?? false
  const mappings: estypes.MappingTypeMapping = {
    ...options.mappings,
    properties: {
      ...options.mappings?.properties,
      [KIND_FIELD]: { type: 'keyword' },
      [META_FIELD]: { type: 'object', enabled: false },
    },
  }
  const settings: estypes.IndicesIndexSettings = {
    ...options.settings,
    number_of_shards: shards,
    number_of_replicas: replicas,
  }
  // Indexes that stopped being live, with the time they did: drop() waits out the grace period for them.
  const retiredAt = new Map<string, number>()

  const alias = (target: Pick<SinkTarget, 'projection'>) => aliasName(indexPrefix, target.projection)
  const indexOf = (target: SinkTarget) => generationIndexName(indexPrefix, target.projection, target.generation)

  async function createIndex(index: string): Promise<void> {
    try {
      await withRetry(`create index ${index}`, policy, () => client.indices.create({ index, settings, mappings }))
    } catch (error) {
      const cause = (error as ElasticsearchRequestFailedError).cause
      const reason = reasonOf(cause)
      if (reason.startsWith('resource_already_exists_exception')) return
      throw new IndexSetupError(index, reason, { cause })
    }
  }

  async function readState(index: string): Promise<CheckpointState> {
    const res = await withRetry(`get checkpoint of ${index}`, policy, () =>
      client.get<MetaSource>({ index, id: CHECKPOINT_ID, realtime: true }, { ignore: [404] }),
    )
    const body = res as estypes.GetResponse<MetaSource> & { error?: { type?: string } }
    if (body.error?.type === 'index_not_found_exception') {
      return { indexExists: false, seqNo: null, primaryTerm: null, checkpoint: null, token: 0n, replayed: [] }
    }
    if (!body.found || !body._source) {
      return { indexExists: true, seqNo: null, primaryTerm: null, checkpoint: null, token: 0n, replayed: [] }
    }
    const meta = body._source[META_FIELD]
    return {
      indexExists: true,
      seqNo: body._seq_no ?? null,
      primaryTerm: body._primary_term ?? null,
      checkpoint:
        meta.transactionId !== null && meta.position !== null
          ? { transactionId: BigInt(meta.transactionId), position: BigInt(meta.position) }
          : null,
      token: BigInt(meta.token),
      replayed: meta.replayed ?? [],
    }
  }

  /** Compare-and-set of the checkpoint document; false when someone else wrote it since `state` was read. */
  async function writeState(
    index: string,
    state: CheckpointState,
    next: { checkpoint: LogCheckpoint | null; token: bigint; replayed: readonly string[] },
  ): Promise<boolean> {
    const document: MetaSource = {
      [KIND_FIELD]: 'checkpoint',
      [META_FIELD]: {
        transactionId: next.checkpoint ? next.checkpoint.transactionId.toString() : null,
        position: next.checkpoint ? next.checkpoint.position.toString() : null,
        token: next.token.toString(),
        replayed: [...next.replayed],
      },
    }
    const guard =
      state.seqNo !== null && state.primaryTerm !== null
        ? { if_seq_no: state.seqNo, if_primary_term: state.primaryTerm }
        : { op_type: 'create' as const }
    try {
      await withRetry(`store checkpoint of ${index}`, policy, () =>
        client.index({ index, id: CHECKPOINT_ID, document, ...guard }),
      )
      return true
    } catch (error) {
      if (error instanceof ElasticsearchRequestFailedError && error.statusCode === 409) return false
      throw error
    }
  }

  async function fetchDocument(index: string, id: string): Promise<StoredDocument<Doc> | null> {
    const cached = caches.get(index)?.get(id)
    if (cached) return cached
    const res = await withRetry(`get ${index}/${id}`, policy, () =>
      client.get<Record<string, unknown>>({ index, id, realtime: true }, { ignore: [404] }),
    )
    if (!res.found || !res._source || res._version === undefined) return null
    const source = res._source
    const tombstone = source[KIND_FIELD] === 'tombstone'
    return { version: BigInt(res._version), doc: tombstone ? null : (source as Doc) }
  }

  function actionLine(index: string, write: PendingWrite<Doc>): string {
    // Written by hand so the bigint version reaches the engine as an exact JSON integer.
    return `{"index":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(write.id)},"version":${write.version.toString()},"version_type":"external"}}`
  }

  function sourceLine(write: PendingWrite<Doc>): string {
    return write.doc === null ? `{"${KIND_FIELD}":"tombstone"}` : JSON.stringify(write.doc, bigintReplacer)
  }

  /**
   * Sends the writes, retrying busy or failed items with backoff. Returns the documents the engine
   * refused for good (mapping errors and the like); a 409 means a newer or equal version is already
   * stored, which is what a redelivery should find.
   */
  async function bulk(
    index: string,
    writes: readonly PendingWrite<Doc>[],
  ): Promise<{ write: PendingWrite<Doc>; error: DocumentRejectedError }[]> {
    const rejected: { write: PendingWrite<Doc>; error: DocumentRejectedError }[] = []
    let todo = writes
    for (let attempt = 1; todo.length > 0; attempt++) {
      const operations: string[] = []
      for (const w of todo) operations.push(actionLine(index, w), sourceLine(w))
      const res = await withRetry(`bulk into ${index}`, policy, () => client.bulk({ operations, refresh }))
      const retry: PendingWrite<Doc>[] = []
      let lastStatus = 0
      res.items.forEach((entry, i) => {
        const w = todo[i] as PendingWrite<Doc>
        const item = (entry.index ?? Object.values(entry)[0]) as BulkItem
        if (item.status < 300) {
          remember(index, w.id, { version: w.version, doc: w.doc })
          return
        }
        if (item.status === 409) {
          // The engine holds a newer (or equal) version than ours: read it from the engine next time.
          remember(index, w.id, null)
          return
        }
        remember(index, w.id, null)
        if (isRetryableStatus(item.status)) {
          retry.push(w)
          lastStatus = item.status
          return
        }
        const type = item.error?.type ?? 'error'
        const reason =
          [item.error?.reason, item.error?.caused_by?.reason].filter(Boolean).join(': ') || 'no reason given'
        rejected.push({ write: w, error: new DocumentRejectedError(index, w.id, item.status, type, reason) })
      })
      if (retry.length === 0) break
      if (attempt >= policy.maxAttempts) {
        throw new ElasticsearchRequestFailedError(
          `bulk into ${index}`,
          attempt,
          lastStatus,
          `${retry.length} document(s) still refused as busy or unavailable`,
        )
      }
      log.warn({ index, documents: retry.length, status: lastStatus, attempt }, 'bulk items refused as busy: retrying')
      await sleep(backoff(attempt, policy))
      todo = retry
    }
    return rejected
  }

  async function currentAliasIndexes(name: string): Promise<string[]> {
    const res = await withRetry(`get alias ${name}`, policy, () => client.indices.getAlias({ name }, { ignore: [404] }))
    const body = res as Record<string, unknown> & { error?: unknown; status?: number }
    if (body.error !== undefined || body.status === 404) return []
    return Object.keys(body).filter((k) => k !== 'error' && k !== 'status')
  }

  const sink: ElasticsearchSink<Doc> = {
    kind: 'elasticsearch',
    client,
    indexPrefix,
    aliasOf: (projection) => aliasName(indexPrefix, projection),
    indexOf: (projection, generation) => generationIndexName(indexPrefix, projection, generation),

    async prepare(target) {
      const index = indexOf(target)
      const exists = await withRetry(`check index ${index}`, policy, () => client.indices.exists({ index }))
      if (!exists) await createIndex(index)
    },

    async loadCheckpoint(target) {
      forget(indexOf(target))
      return (await readState(indexOf(target))).checkpoint
    },

    async commit(target: SinkTarget, batch: SinkBatch<ElasticsearchWriter<Doc>>) {
      const index = indexOf(target)
      let state = await readState(index)
      if (!state.indexExists) {
        // The index vanished (deleted by hand, lost): recreate it empty and let the runner rebuild it.
        forget(index)
        await createIndex(index)
        if (batch.expected !== null) return { status: 'conflict', actual: null } satisfies SinkCommitResult
        state = await readState(index)
      }
      if (state.token > batch.token || !sameCheckpoint(state.checkpoint, batch.expected)) {
        // Someone else wrote here: what this sink remembers may be behind the engine.
        forget(index)
        if (state.token > batch.token) return { status: 'fenced' } satisfies SinkCommitResult
        return { status: 'conflict', actual: state.checkpoint } satisfies SinkCommitResult
      }
      const replayIds = batch.replayIds.map(String)
      if (replayIds.some((id) => state.replayed.includes(id))) return { status: 'duplicate' } satisfies SinkCommitResult

      const events = (batch as SinkBatch<ElasticsearchWriter<Doc>> & { events?: readonly RecordedEvent[] }).events
      const writer = createBatchWriter<Doc>({ versionOf, fetch: (id) => fetchDocument(index, id), events })
      await batch.apply(writer)
      const writes = writer.writes()
      const refused = writes.length > 0 ? await bulk(index, writes) : []

      const rejections: SinkRejection[] = []
      for (const { write, error } of refused) {
        for (const eventId of write.eventIds) {
          const at = writer.eventIndex(eventId)
          if (at === undefined) {
            throw new ElasticsearchRequestFailedError(
              'bulk',
              1,
              error.status,
              `cannot tell which event wrote "${write.id}"`,
              { cause: error },
            )
          }
          rejections.push({ index: at, error })
        }
        log.warn(
          { index, id: write.id, type: error.type, reason: error.reason, events: write.eventIds.length },
          'document rejected',
        )
      }
      rejections.sort((a, b) => a.index - b.index)

      let token = batch.token
      if (state.token > token) token = state.token
      const stored = await writeState(index, state, {
        checkpoint: batch.checkpoint ?? state.checkpoint,
        token,
        replayed: [...state.replayed, ...replayIds],
      })
      if (!stored) {
        // Our writes are versioned, so having sent them is harmless; only the checkpoint is refused.
        const now = await readState(index)
        forget(index)
        if (now.token > batch.token) return { status: 'fenced' } satisfies SinkCommitResult
        return { status: 'conflict', actual: now.checkpoint } satisfies SinkCommitResult
      }
      return rejections.length > 0 ? { status: 'committed', rejections } : { status: 'committed' }
    },

    async fence(target, token) {
      await sink.prepare(target)
      const index = indexOf(target)
      forget(index)
      for (;;) {
        const state = await readState(index)
        if (state.token >= token) return
        if (await writeState(index, state, { checkpoint: state.checkpoint, token, replayed: state.replayed })) return
      }
    },

    async liveGeneration(target) {
      const name = alias(target)
      const gens = (await currentAliasIndexes(name))
        .map((i) => generationOf(name, i))
        .filter((g): g is number => g !== null)
      return gens.length > 0 ? Math.max(...gens) : null
    },

    async activate(target, token) {
      const name = alias(target)
      const index = indexOf(target)
      const holders = await currentAliasIndexes(name)
      for (const i of [index, ...holders]) {
        const state = await readState(i)
        if (state.token > token) return false
      }
      // Everything written so far must be searchable the moment readers arrive.
      await withRetry(`refresh ${index}`, policy, () => client.indices.refresh({ index }))
      const actions: estypes.IndicesUpdateAliasesAction[] = [
        ...holders.filter((h) => h !== index).map((h) => ({ remove: { index: h, alias: name } })),
        { add: { index, alias: name, filter: READER_FILTER } },
      ]
      // One call: the engine applies remove and add atomically, so the alias is never missing.
      await withRetry(`swap alias ${name}`, policy, () => client.indices.updateAliases({ actions }))
      const now = Date.now()
      for (const h of holders) if (h !== index) retiredAt.set(h, now)
      retiredAt.delete(index)
      log.info({ alias: name, index, previous: holders }, 'alias points at the new generation')
      return true
    },

    async drop(target) {
      const index = indexOf(target)
      forget(index)
      const retired = retiredAt.get(index)
      if (retired !== undefined) {
        const wait = retired + dropGraceMs - Date.now()
        if (wait > 0) await sleep(wait)
        retiredAt.delete(index)
      }
      const holders = await currentAliasIndexes(alias(target))
      if (holders.includes(index)) {
        throw new InvalidElasticsearchOptionError(
          'generation',
          `index "${index}" is what readers see: move the alias first`,
        )
      }
      try {
        await withRetry(`delete index ${index}`, policy, () =>
          client.indices.delete({ index, ignore_unavailable: true }),
        )
      } catch (error) {
        if (statusOf((error as ElasticsearchRequestFailedError).cause) === 404) return
        throw error
      }
    },
  }
  return sink
}

/** @internal Whether an error came from the client (used by tests and the search helper). */
export const isResponseError = (error: unknown): error is errors.ResponseError => error instanceof errors.ResponseError
