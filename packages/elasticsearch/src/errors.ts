import { AnnalsError, isAnnalsError } from '@annals/core'

/**
 * Every error code `@annals/elasticsearch` can raise. Codes are stable: never reused, never renamed.
 * Documented in `packages/elasticsearch/docs/errors.md`.
 */
export const ElasticsearchErrorCodes = {
  INVALID_OPTION: 'ANNALS_ES_ERR_INVALID_OPTION',
  REQUEST_FAILED: 'ANNALS_ES_ERR_REQUEST_FAILED',
  INDEX_SETUP: 'ANNALS_ES_ERR_INDEX_SETUP',
  DOCUMENT_REJECTED: 'ANNALS_ES_ERR_DOCUMENT_REJECTED',
  INVALID_VERSION: 'ANNALS_ES_ERR_INVALID_VERSION',
  READ_MODEL_NOT_FOUND: 'ANNALS_ES_ERR_READ_MODEL_NOT_FOUND',
} as const

/** Union of the codes in {@link ElasticsearchErrorCodes}. */
export type ElasticsearchErrorCode = (typeof ElasticsearchErrorCodes)[keyof typeof ElasticsearchErrorCodes]

/** An option given to the sink, the search helper or the client factory is malformed. */
export class InvalidElasticsearchOptionError extends AnnalsError<'ANNALS_ES_ERR_INVALID_OPTION'> {
  declare readonly option: string
  constructor(option: string, message: string) {
    super(ElasticsearchErrorCodes.INVALID_OPTION, `Invalid option ${option}: ${message}`, { fields: { option } })
  }
}

/**
 * A request to the engine failed for good: a transport error or 429/5xx that outlived the retries, or an
 * answer the sink cannot use. Nothing after the failed step was stored (the checkpoint did not move).
 */
export class ElasticsearchRequestFailedError extends AnnalsError<'ANNALS_ES_ERR_REQUEST_FAILED'> {
  /** What the sink was doing (`bulk`, `get checkpoint`, `swap alias`…). */
  declare readonly operation: string
  /** HTTP status of the last answer, when there was one. */
  declare readonly statusCode: number | undefined
  /** Attempts made, the first one included. */
  declare readonly attempts: number
  constructor(
    operation: string,
    attempts: number,
    statusCode: number | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(
      ElasticsearchErrorCodes.REQUEST_FAILED,
      `Elasticsearch ${operation} failed after ${attempts} attempt(s)${statusCode ? ` (HTTP ${statusCode})` : ''}: ${message}`,
      { ...options, fields: { operation, statusCode, attempts } },
    )
  }
}

/** Creating a generation's index failed (invalid mappings or settings, or an index name the engine refuses). */
export class IndexSetupError extends AnnalsError<'ANNALS_ES_ERR_INDEX_SETUP'> {
  declare readonly index: string
  constructor(index: string, reason: string, options?: { cause?: unknown }) {
    super(ElasticsearchErrorCodes.INDEX_SETUP, `Cannot create index "${index}": ${reason}`, {
      ...options,
      fields: { index },
    })
  }
}

/**
 * The engine refused one document of a bulk (a mapping error, a field too large…). The event that
 * produced it is parked as a dead letter with this error; the rest of the batch was applied.
 */
export class DocumentRejectedError extends AnnalsError<'ANNALS_ES_ERR_DOCUMENT_REJECTED'> {
  declare readonly index: string
  declare readonly documentId: string
  /** The engine's error type, e.g. `mapper_parsing_exception`, `document_parsing_exception`. */
  declare readonly type: string
  /** The engine's reason, verbatim. */
  declare readonly reason: string
  declare readonly status: number
  constructor(index: string, documentId: string, status: number, type: string, reason: string) {
    super(
      ElasticsearchErrorCodes.DOCUMENT_REJECTED,
      `Document "${documentId}" rejected by index "${index}" (HTTP ${status} ${type}): ${reason}`,
      { fields: { index, documentId, type, reason, status } },
    )
  }
}

/** The version an event gives a document is not a valid external version (an integer in 1..2^63-1). */
export class InvalidDocumentVersionError extends AnnalsError<'ANNALS_ES_ERR_INVALID_VERSION'> {
  declare readonly documentId: string
  declare readonly version: bigint
  constructor(documentId: string, version: bigint) {
    super(
      ElasticsearchErrorCodes.INVALID_VERSION,
      `Document "${documentId}": version ${version.toString()} is not a valid external version (1..9223372036854775807)`,
      { fields: { documentId, version } },
    )
  }
}

/** A read went to a projection whose alias does not exist yet (never built, or another index prefix). */
export class ReadModelNotFoundError extends AnnalsError<'ANNALS_ES_ERR_READ_MODEL_NOT_FOUND'> {
  declare readonly alias: string
  constructor(alias: string, options?: { cause?: unknown }) {
    super(
      ElasticsearchErrorCodes.READ_MODEL_NOT_FOUND,
      `Read model alias "${alias}" does not exist: run the projection (or check the index prefix)`,
      { ...options, fields: { alias } },
    )
  }
}

/** True when `error` is a {@link DocumentRejectedError} (by code, so it works across package copies). */
export function isDocumentRejectedError(error: unknown): error is DocumentRejectedError {
  return isAnnalsError(error, ElasticsearchErrorCodes.DOCUMENT_REJECTED)
}

/** True when `error` is a {@link ReadModelNotFoundError}. */
export function isReadModelNotFoundError(error: unknown): error is ReadModelNotFoundError {
  return isAnnalsError(error, ElasticsearchErrorCodes.READ_MODEL_NOT_FOUND)
}
