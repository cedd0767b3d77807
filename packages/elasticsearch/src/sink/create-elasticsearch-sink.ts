import type { ReadModelSink, SinkTarget } from '@annals/projections'
import type { Client } from '@elastic/elasticsearch'
import type { ElasticsearchWriter, SearchDocument } from '../batch-writer.js'
import { aliasName, generationIndexName } from '../names.js'
import { createBulkCommit } from './bulk-commit.js'
import { createDocumentCache } from './document-cache.js'
import { createIndexLifecycle } from './index-lifecycle.js'
import { type ElasticsearchSinkOptions, resolveSinkSettings } from './sink-options.js'
import { createSinkState } from './sink-state.js'

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
  const settings = resolveSinkSettings(options)
  const { client, indexPrefix } = settings
  const cache = createDocumentCache<Doc>(settings.cacheSize)
  const state = createSinkState(client, settings.policy)
  const indices = createIndexLifecycle(settings, state)
  const commit = createBulkCommit<Doc>(settings, state, indices, cache)

  const alias = (target: Pick<SinkTarget, 'projection'>) => aliasName(indexPrefix, target.projection)
  const indexOf = (target: SinkTarget) => generationIndexName(indexPrefix, target.projection, target.generation)

  return {
    kind: 'elasticsearch',
    client,
    indexPrefix,
    aliasOf: (projection) => aliasName(indexPrefix, projection),
    indexOf: (projection, generation) => generationIndexName(indexPrefix, projection, generation),

    prepare: (target) => indices.ensure(indexOf(target)),

    async loadCheckpoint(target) {
      cache.forget(indexOf(target))
      return (await state.read(indexOf(target))).checkpoint
    },

    commit: (target, batch) => commit(indexOf(target), batch),

    async fence(target, token) {
      const index = indexOf(target)
      await indices.ensure(index)
      cache.forget(index)
      await state.fence(index, token)
    },

    liveGeneration: (target) => indices.liveGeneration(alias(target)),

    activate: (target, token) => indices.activate(alias(target), indexOf(target), token),

    async drop(target) {
      const index = indexOf(target)
      cache.forget(index)
      await indices.drop(alias(target), index)
    },
  }
}
