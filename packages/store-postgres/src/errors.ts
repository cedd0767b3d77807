import { AnnalsError, isAnnalsError, type StreamId } from '@annals/core'

/**
 * Every error code `@annals/store-postgres` can raise. Codes are stable: never reused, never renamed.
 * Documented in `packages/store-postgres/docs/errors.md`.
 */
export const PgStoreErrorCodes = {
  INVALID_IDENTIFIER: 'ANNALS_PG_ERR_INVALID_IDENTIFIER',
  MIGRATION: 'ANNALS_PG_ERR_MIGRATION',
  NOT_MIGRATED: 'ANNALS_PG_ERR_NOT_MIGRATED',
  INVALID_OPTION: 'ANNALS_PG_ERR_INVALID_OPTION',
  UNEXPECTED_RESULT: 'ANNALS_PG_ERR_UNEXPECTED_RESULT',
  THROWAWAY_POSTGRES: 'ANNALS_PG_ERR_THROWAWAY_POSTGRES',
  APPEND_OUTCOME_UNKNOWN: 'ANNALS_PG_ERR_APPEND_OUTCOME_UNKNOWN',
  CONNECTION_LOST: 'ANNALS_PG_ERR_CONNECTION_LOST',
  INVALID_DATABASE_URL: 'ANNALS_PG_ERR_INVALID_DATABASE_URL',
  TENANT_SCOPE: 'ANNALS_PG_ERR_TENANT_SCOPE',
} as const

/** Union of the codes in {@link PgStoreErrorCodes}. */
export type PgStoreErrorCode = (typeof PgStoreErrorCodes)[keyof typeof PgStoreErrorCodes]

/** A schema name or table prefix is not a safe SQL identifier. */
export class PgInvalidIdentifierError extends AnnalsError<'ANNALS_PG_ERR_INVALID_IDENTIFIER'> {
  declare readonly identifier: string
  constructor(what: string, identifier: string, reason: string) {
    super(PgStoreErrorCodes.INVALID_IDENTIFIER, `Invalid ${what} ${JSON.stringify(identifier)}: ${reason}`, {
      fields: { identifier },
    })
  }
}

/** A migration failed; nothing of it was applied (each run is one transaction). */
export class PgMigrationError extends AnnalsError<'ANNALS_PG_ERR_MIGRATION'> {
  declare readonly migration: string | null
  constructor(migration: string | null, message: string, options?: { cause?: unknown }) {
    super(
      PgStoreErrorCodes.MIGRATION,
      `Migration ${migration ?? '(setup)'} failed: ${message}. Nothing was applied (one transaction): fix the cause (the database error is in \`cause\`: permissions to create the schema, an object with the same name) and run migrate again`,
      {
        ...options,
        fields: { migration },
      },
    )
  }
}

/** The store's tables or functions are missing: `migrate()` was not run for this schema and prefix. */
export class PgNotMigratedError extends AnnalsError<'ANNALS_PG_ERR_NOT_MIGRATED'> {
  declare readonly schema: string
  constructor(schema: string, options?: { cause?: unknown }) {
    super(
      PgStoreErrorCodes.NOT_MIGRATED,
      `The Annals tables in schema "${schema}" are missing: run migrate({ pool, schema }) or \`annals migrate --schema ${schema}\``,
      { ...options, fields: { schema } },
    )
  }
}

/** An option given to a store factory is out of range or missing. */
export class PgInvalidOptionError extends AnnalsError<'ANNALS_PG_ERR_INVALID_OPTION'> {
  declare readonly option: string
  constructor(option: string, message: string) {
    super(PgStoreErrorCodes.INVALID_OPTION, `Invalid option ${option}: ${message}`, { fields: { option } })
  }
}

/**
 * A PostgreSQL connection URL (`DATABASE_URL`) is malformed; found before any connection attempt.
 * The message and `url` show it with the password hidden.
 */
export class PgInvalidDatabaseUrlError extends AnnalsError<'ANNALS_PG_ERR_INVALID_DATABASE_URL'> {
  /** The variable or option the URL came from, e.g. `DATABASE_URL`. */
  declare readonly variable: string
  declare readonly reason: string
  /** The URL with its password replaced by `***`. */
  declare readonly url: string
  constructor(variable: string, reason: string, url: string) {
    super(
      PgStoreErrorCodes.INVALID_DATABASE_URL,
      `${variable} is not a valid PostgreSQL URL: ${reason}${url ? ` (got ${url})` : ''}`,
      { fields: { variable, reason, url } },
    )
  }
}

/** The database answered something the store cannot interpret (a bug or a foreign change to the tables). */
export class PgUnexpectedResultError extends AnnalsError<'ANNALS_PG_ERR_UNEXPECTED_RESULT'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(PgStoreErrorCodes.UNEXPECTED_RESULT, message, options)
  }
}

/** A throwaway PostgreSQL cluster (test helper) could not be created, started or stopped. */
export class PgThrowawayPostgresError extends AnnalsError<'ANNALS_PG_ERR_THROWAWAY_POSTGRES'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(PgStoreErrorCodes.THROWAWAY_POSTGRES, message, options)
  }
}

/**
 * A read or write did not name its tenant where the store requires one (a store created with
 * `tenancy: 'multi'` used without `forTenant`, an append through the `ALL_TENANTS` reader, a
 * malformed tenant id). Refused before any SQL: never answered with another tenant's rows.
 */
export class PgTenantScopeError extends AnnalsError<'ANNALS_PG_ERR_TENANT_SCOPE'> {
  constructor(message: string) {
    super(PgStoreErrorCodes.TENANT_SCOPE, message)
  }
}

/** One stream's part of an append whose outcome is unknown: the ids to re-send its events with. */
export type UnknownAppendStream = Readonly<{ streamId: StreamId; eventIds: readonly string[] }>

/**
 * The connection was lost after an append was sent and before its answer arrived (a reset, a killed
 * backend, a server restart, a client-side timeout): the append may have committed, or not. Errors
 * that certainly wrote nothing (the pool could not connect, the server refused a statement, which
 * rolls the whole append back) are never this one.
 *
 * Resolve it by re-sending the same append with the same event ids (`eventIds`, also when the store
 * chose them): the store recognises a re-send of stored ids with the same content at the same place
 * and answers `duplicate: true` without writing again, so exactly one copy is kept either way. Or
 * read the stream and look for the ids.
 * @example
 * catch (error) {
 *   if (isPgStoreError(error, 'ANNALS_PG_ERR_APPEND_OUTCOME_UNKNOWN')) {
 *     const ids = (error as PgAppendOutcomeUnknownError).eventIds
 *     await store.appendToStream(id, events.map((e, i) => ({ ...e, eventId: ids[i] })), { expectedVersion })
 *   }
 * }
 */
export class PgAppendOutcomeUnknownError extends AnnalsError<'ANNALS_PG_ERR_APPEND_OUTCOME_UNKNOWN'> {
  /** The stream appended to (the first, when an atomic append named several). */
  declare readonly streamId: StreamId
  /** The ids of every event of the append, in the order given (all streams). */
  declare readonly eventIds: readonly string[]
  /** Each stream of the append with the ids of its events. */
  declare readonly streams: readonly UnknownAppendStream[]
  constructor(streams: readonly UnknownAppendStream[], options?: { cause?: unknown }) {
    const streamId = streams[0]?.streamId ?? '(none)'
    const eventIds = streams.flatMap((s) => s.eventIds)
    const more = streams.length > 1 ? ` and ${streams.length - 1} more stream(s)` : ''
    super(
      PgStoreErrorCodes.APPEND_OUTCOME_UNKNOWN,
      `The connection was lost during the append to "${streamId}"${more}: it may or may not have committed. Re-send it with the same event ids (a re-send of stored ids is recognised and not written twice), or read the stream`,
      { ...options, fields: { streamId, eventIds, streams } },
    )
  }
}

/**
 * The connection of a client checked out of a pool died while it was held (a server restart, a
 * terminated backend, a network failure): the work on it failed. `cause` is the connection's error.
 */
export class PgConnectionLostError extends AnnalsError<'ANNALS_PG_ERR_CONNECTION_LOST'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(PgStoreErrorCodes.CONNECTION_LOST, message, options)
  }
}

/** True when `error` is a {@link PgConnectionLostError} (by code, so it holds across duplicated copies). */
export function isPgConnectionLostError(error: unknown): error is PgConnectionLostError {
  return isAnnalsError(error, PgStoreErrorCodes.CONNECTION_LOST)
}

/** True when `error` is one of this package's errors, optionally of the given code. */
export function isPgStoreError(error: unknown, code?: PgStoreErrorCode): boolean {
  return isAnnalsError(error) && error.code.startsWith('ANNALS_PG_ERR_') && (code === undefined || error.code === code)
}
