import type { RecordedEvent } from '@annals/core'
import { sleep } from '@annals/core/runtime'
import type { SinkBatch, SinkCommitResult, SinkRejection } from '@annals/projections'
import { createBatchWriter, type ElasticsearchWriter, type PendingWrite, type StoredDocument } from '../batch-writer.js'
import { DocumentRejectedError, ElasticsearchRequestFailedError } from '../errors.js'
import { KIND_FIELD } from '../names.js'
import { isRetryableStatus, withRetry } from '../retry.js'
import type { DocumentCache } from './document-cache.js'
import type { IndexLifecycle } from './index-lifecycle.js'
import type { SinkSettings } from './sink-options.js'
import { type SinkState, sameCheckpoint } from './sink-state.js'

/** @internal The engine's answer for one bulk item. */
type BulkItem = {
  status: number
  error?: { type?: string; reason?: string; caused_by?: { type?: string; reason?: string } }
}

/** @internal A write the engine refused for good, with the reason it gave. */
type Refused<Doc> = Readonly<{ write: PendingWrite<Doc>; error: DocumentRejectedError }>

function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value
}

function actionLine<Doc>(index: string, write: PendingWrite<Doc>): string {
  // Written by hand so the bigint version reaches the engine as an exact JSON integer.
  return `{"index":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(write.id)},"version":${write.version.toString()},"version_type":"external"}}`
}

function sourceLine<Doc>(write: PendingWrite<Doc>): string {
  return write.doc === null ? `{"${KIND_FIELD}":"tombstone"}` : JSON.stringify(write.doc, bigintReplacer)
}

/** @internal One batch into one generation's index: `commit` of the sink. */
export type BulkCommit<Doc extends object> = (
  index: string,
  batch: SinkBatch<ElasticsearchWriter<Doc>>,
) => Promise<SinkCommitResult>

/**
 * @internal The commit of a sink: check the checkpoint and the lease token, run the handlers, send
 * their writes in one versioned bulk, then compare-and-set the checkpoint.
 */
export function createBulkCommit<Doc extends object>(
  { client, policy, log, refresh, versionOf }: SinkSettings,
  state: SinkState,
  indices: IndexLifecycle,
  cache: DocumentCache<Doc>,
): BulkCommit<Doc> {
  async function fetchDocument(index: string, id: string): Promise<StoredDocument<Doc> | null> {
    const cached = cache.get(index, id)
    if (cached) return cached
    const res = await withRetry(`get ${index}/${id}`, policy, () =>
      client.get<Record<string, unknown>>({ index, id, realtime: true }, { ignore: [404] }),
    )
    if (!res.found || !res._source || res._version === undefined) return null
    const source = res._source
    const tombstone = source[KIND_FIELD] === 'tombstone'
    return { version: BigInt(res._version), doc: tombstone ? null : (source as Doc) }
  }

  /**
   * Sends the writes, retrying busy or failed items with backoff. Returns the documents the engine
   * refused for good (mapping errors and the like); a 409 means a newer or equal version is already
   * stored, which is what a redelivery should find.
   */
  async function bulk(index: string, writes: readonly PendingWrite<Doc>[]): Promise<Refused<Doc>[]> {
    const rejected: Refused<Doc>[] = []
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
          cache.remember(index, w.id, { version: w.version, doc: w.doc })
          return
        }
        if (item.status === 409) {
          // The engine holds a newer (or equal) version than ours: read it from the engine next time.
          cache.remember(index, w.id, null)
          return
        }
        cache.remember(index, w.id, null)
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
      await sleep(policy.delay(attempt))
      todo = retry
    }
    return rejected
  }

  /** Each refused document's events, by batch index (ascending): the runner parks them as dead letters. */
  function rejectionsOf(
    index: string,
    refused: readonly Refused<Doc>[],
    eventIndex: (eventId: string) => number | undefined,
  ): SinkRejection[] {
    const rejections: SinkRejection[] = []
    for (const { write, error } of refused) {
      for (const eventId of write.eventIds) {
        const at = eventIndex(eventId)
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
    return rejections.sort((a, b) => a.index - b.index)
  }

  return async (index, batch) => {
    let current = await state.read(index)
    if (!current.indexExists) {
      // The index vanished (deleted by hand, lost): recreate it empty and let the runner rebuild it.
      cache.forget(index)
      await indices.create(index)
      if (batch.expected !== null) return { status: 'conflict', actual: null } satisfies SinkCommitResult
      current = await state.read(index)
    }
    if (current.token > batch.token || !sameCheckpoint(current.checkpoint, batch.expected)) {
      // Someone else wrote here: what this sink remembers may be behind the engine.
      cache.forget(index)
      if (current.token > batch.token) return { status: 'fenced' } satisfies SinkCommitResult
      return { status: 'conflict', actual: current.checkpoint } satisfies SinkCommitResult
    }
    const replayIds = batch.replayIds.map(String)
    if (replayIds.some((id) => current.replayed.includes(id))) return { status: 'duplicate' } satisfies SinkCommitResult

    const events = (batch as SinkBatch<ElasticsearchWriter<Doc>> & { events?: readonly RecordedEvent[] }).events
    const writer = createBatchWriter<Doc>({ versionOf, fetch: (id) => fetchDocument(index, id), events })
    await batch.apply(writer)
    const writes = writer.writes()
    const refused = writes.length > 0 ? await bulk(index, writes) : []
    const rejections = rejectionsOf(index, refused, (eventId) => writer.eventIndex(eventId))

    let token = batch.token
    if (current.token > token) token = current.token
    const stored = await state.write(index, current, {
      checkpoint: batch.checkpoint ?? current.checkpoint,
      token,
      replayed: [...current.replayed, ...replayIds],
    })
    if (!stored) {
      // Our writes are versioned, so having sent them is harmless; only the checkpoint is refused.
      const now = await state.read(index)
      cache.forget(index)
      if (now.token > batch.token) return { status: 'fenced' } satisfies SinkCommitResult
      return { status: 'conflict', actual: now.checkpoint } satisfies SinkCommitResult
    }
    return rejections.length > 0 ? { status: 'committed', rejections } : { status: 'committed' }
  }
}
