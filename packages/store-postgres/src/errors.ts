import { AnnalsError, isAnnalsError } from '@annals/core'

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
  INVALID_DATABASE_URL: 'ANNALS_PG_ERR_INVALID_DATABASE_URL',
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
    super(PgStoreErrorCodes.MIGRATION, `Migration ${migration ?? '(setup)'} failed: ${message}`, {
      ...options,
      fields: { migration },
    })
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

/** True when `error` is one of this package's errors, optionally of the given code. */
export function isPgStoreError(error: unknown, code?: PgStoreErrorCode): boolean {
  return isAnnalsError(error) && error.code.startsWith('ANNALS_PG_ERR_') && (code === undefined || error.code === code)
}
