import type { RecordedEvent } from '@annals/core'
import { integerOption } from '@annals/core/runtime'
import type { Client, estypes } from '@elastic/elasticsearch'
import { type Logger, pino } from 'pino'
import type { VersionSource } from '../batch-writer.js'
import { versionFunction } from '../batch-writer.js'
import { InvalidElasticsearchOptionError } from '../errors.js'
import { assertIndexPrefix, DEFAULT_INDEX_PREFIX, KIND_FIELD, META_FIELD } from '../names.js'
import { type EngineRetryOptions, type RetryPolicy, retryPolicy } from '../retry.js'

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

/** @internal The options after validation, with every default applied: what the sink's parts share. */
export type SinkSettings = Readonly<{
  client: Client
  indexPrefix: string
  /** The caller's mappings plus the sink's own two fields. */
  mappings: estypes.MappingTypeMapping
  /** The caller's settings plus shards and replicas. */
  settings: estypes.IndicesIndexSettings
  dropGraceMs: number
  cacheSize: number
  refresh: boolean | 'wait_for'
  versionOf: (event: RecordedEvent) => bigint
  policy: RetryPolicy
  log: Logger
}>

const nonNegativeInt = (name: string, value: number | undefined, fallback: number) =>
  integerOption(name, value, fallback, 0, (option, reason) => new InvalidElasticsearchOptionError(option, reason))

/** @internal Validates the options (`ANNALS_ES_ERR_INVALID_OPTION`) and applies the defaults. */
export function resolveSinkSettings(options: ElasticsearchSinkOptions): SinkSettings {
  const { client } = options
  if (!client || typeof client.bulk !== 'function')
    throw new InvalidElasticsearchOptionError('client', 'pass an @elastic/elasticsearch Client')
  const indexPrefix = assertIndexPrefix(options.indexPrefix ?? DEFAULT_INDEX_PREFIX)
  const shards = nonNegativeInt('shards', options.shards, 1)
  if (shards < 1) throw new InvalidElasticsearchOptionError('shards', 'must be >= 1')
  const replicas = nonNegativeInt('replicas', options.replicas, 0)
  const dropGraceMs = nonNegativeInt('dropGraceMs', options.dropGraceMs, 1000)
  const cacheSize = nonNegativeInt('cacheSize', options.cacheSize, 20_000)
  const versionOf = versionFunction(options.version)
  const policy = retryPolicy(options.retry)
  const log = options.logger ?? pino({ name: 'annals-elasticsearch', level: process.env.ANNALS_LOG_LEVEL ?? 'info' })
  return {
    client,
    indexPrefix,
    mappings: {
      ...options.mappings,
      properties: {
        ...options.mappings?.properties,
        [KIND_FIELD]: { type: 'keyword' },
        [META_FIELD]: { type: 'object', enabled: false },
      },
    },
    settings: { ...options.settings, number_of_shards: shards, number_of_replicas: replicas },
    dropGraceMs,
    cacheSize,
    refresh: options.refresh ?? false,
    versionOf,
    policy,
    log,
  }
}
