export type {
  ElasticsearchWriter,
  SearchDocument,
  VersionSource,
} from './batch-writer.js'
export {
  type ConnectSearchEngineOptions,
  connectSearchEngine,
  createOpenSearchCompatibleClient,
  detectSearchEngine,
  Elasticsearch8CompatTransport,
  OpenSearchCompatTransport,
  type SearchEngineKind,
} from './compat-transport.js'
export { defineElasticsearchProjection } from './define-elasticsearch-projection.js'
export {
  DocumentRejectedError,
  type ElasticsearchErrorCode,
  ElasticsearchErrorCodes,
  ElasticsearchRequestFailedError,
  IndexSetupError,
  InvalidDocumentVersionError,
  InvalidElasticsearchOptionError,
  isDocumentRejectedError,
  isReadModelNotFoundError,
  ReadModelNotFoundError,
} from './errors.js'
export { aliasName, DEFAULT_INDEX_PREFIX, generationIndexName } from './names.js'
export type { EngineRetryOptions } from './retry.js'
export {
  createSearch,
  type SearchReader,
  type SearchRequest,
  type SearchResult,
  type SearchTarget,
  type SortField,
  type SortSpec,
} from './search.js'
export { createElasticsearchSink, type ElasticsearchSink } from './sink/create-elasticsearch-sink.js'
export type { ElasticsearchSinkOptions } from './sink/sink-options.js'
