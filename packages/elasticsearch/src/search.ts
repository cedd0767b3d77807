import type { ReadModelSink } from '@annals/projections'
import { type Client, errors, type estypes } from '@elastic/elasticsearch'
import type { ElasticsearchWriter, SearchDocument } from './batch-writer.js'
import { ElasticsearchRequestFailedError, ReadModelNotFoundError } from './errors.js'
import { aliasName, DEFAULT_INDEX_PREFIX, KIND_FIELD } from './names.js'
import { reasonOf, statusOf } from './retry.js'

/** A field of `Doc` a search may sort on (`field.keyword`-style sub-fields included). */
export type SortField<Doc> = (keyof Doc & string) | `${keyof Doc & string}.${string}` | '_score' | '_doc'

/** One sort key: a field (ascending) or `{ field: 'asc' | 'desc' }`. */
export type SortSpec<Doc> = SortField<Doc> | Readonly<Partial<Record<SortField<Doc>, 'asc' | 'desc'>>>

/** A typed search over a projection's documents. */
export type SearchRequest<Doc> = Readonly<{
  /** An Elasticsearch query (match_all when absent). */
  query?: estypes.QueryDslQueryContainer
  /** Default 10. */
  size?: number
  from?: number
  sort?: SortSpec<Doc> | readonly SortSpec<Doc>[]
}>

/** What a search returns: the exact total and the documents of the page, with their ids in the same order. */
export type SearchResult<Doc> = Readonly<{ total: number; hits: Doc[]; ids: string[] }>

/** Reads one Elasticsearch projection through its alias (always the live generation). */
export interface SearchReader<Doc> {
  /** The alias this reader queries. */
  readonly alias: string
  search(request?: SearchRequest<Doc>): Promise<SearchResult<Doc>>
  /** One document by id (`null` when absent or deleted). */
  get(id: string): Promise<Doc | null>
  count(query?: estypes.QueryDslQueryContainer): Promise<number>
}

/** What {@link createSearch} accepts as the projection: a projection (or `{ name, sink }`) or a name. */
export type SearchTarget<Doc extends object> =
  | string
  | Readonly<{ name: string; sink: ReadModelSink<ElasticsearchWriter<Doc>> | { aliasOf(projection: string): string } }>

function translate(alias: string, operation: string, error: unknown): never {
  if (
    error instanceof errors.ResponseError &&
    statusOf(error) === 404 &&
    reasonOf(error).startsWith('index_not_found')
  ) {
    throw new ReadModelNotFoundError(alias, { cause: error })
  }
  throw new ElasticsearchRequestFailedError(operation, 1, statusOf(error), reasonOf(error), { cause: error })
}

/**
 * A typed reader for an Elasticsearch projection: typed query in, typed documents out. Queries go to the
 * alias, whose filter hides the sink's tombstones and checkpoint.
 * @example
 * const accounts = createSearch(client, accountsProjection) // Doc inferred from the projection's sink
 * const { total, hits } = await accounts.search({ query: { match: { owner: 'ada' } }, size: 20, sort: [{ balance: 'desc' }] })
 */
export function createSearch<Doc extends object = SearchDocument>(
  client: Client,
  projection: SearchTarget<Doc>,
  options: Readonly<{ indexPrefix?: string }> = {},
): SearchReader<Doc> {
  const alias =
    typeof projection === 'string'
      ? aliasName(options.indexPrefix ?? DEFAULT_INDEX_PREFIX, projection)
      : 'aliasOf' in projection.sink && typeof projection.sink.aliasOf === 'function'
        ? projection.sink.aliasOf(projection.name)
        : aliasName(options.indexPrefix ?? DEFAULT_INDEX_PREFIX, projection.name)
  return {
    alias,
    async search(request = {}) {
      const sort = request.sort === undefined ? undefined : Array.isArray(request.sort) ? request.sort : [request.sort]
      let res: estypes.SearchResponse<Doc>
      try {
        res = await client.search<Doc>({
          index: alias,
          query: request.query ?? { match_all: {} },
          size: request.size ?? 10,
          ...(request.from !== undefined ? { from: request.from } : {}),
          ...(sort ? { sort: sort as estypes.Sort } : {}),
          track_total_hits: true,
        })
      } catch (error) {
        translate(alias, `search ${alias}`, error)
      }
      const total = typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? 0)
      const hits: Doc[] = []
      const ids: string[] = []
      for (const hit of res.hits.hits) {
        if (hit._source === undefined) continue
        hits.push(hit._source)
        ids.push(hit._id ?? '')
      }
      return { total, hits, ids }
    },
    async get(id) {
      let res: estypes.GetResponse<Doc>
      try {
        res = await client.get<Doc>({ index: alias, id }, { ignore: [404] })
      } catch (error) {
        translate(alias, `get ${alias}/${id}`, error)
      }
      const body = res as estypes.GetResponse<Doc> & { error?: { type?: string } }
      if (body.error?.type === 'index_not_found_exception') throw new ReadModelNotFoundError(alias)
      if (!body.found || !body._source) return null
      // GET does not apply the alias filter: hide tombstones and the checkpoint here.
      if (KIND_FIELD in (body._source as object)) return null
      return body._source
    },
    async count(query) {
      try {
        const res = await client.count({ index: alias, query: query ?? { match_all: {} } })
        return res.count
      } catch (error) {
        translate(alias, `count ${alias}`, error)
      }
    },
  }
}
