import { AnnalsError, isAnnalsError } from '@annals/core'

/**
 * Every error code `@annals/projections` can raise. Codes are stable: never reused, never renamed.
 * Documented in `packages/projections/docs/errors.md`.
 */
export const ProjectionErrorCodes = {
  INVALID_IDENTIFIER: 'ANNALS_PROJ_ERR_INVALID_IDENTIFIER',
  INVALID_DEFINITION: 'ANNALS_PROJ_ERR_INVALID_DEFINITION',
  INVALID_OPTION: 'ANNALS_PROJ_ERR_INVALID_OPTION',
  DUPLICATE_PROJECTION: 'ANNALS_PROJ_ERR_DUPLICATE_PROJECTION',
  UNKNOWN_PROJECTION: 'ANNALS_PROJ_ERR_UNKNOWN_PROJECTION',
  MIGRATION: 'ANNALS_PROJ_ERR_MIGRATION',
  LEASE_LOST: 'ANNALS_PROJ_ERR_LEASE_LOST',
  HANDLER_FAILED: 'ANNALS_PROJ_ERR_HANDLER_FAILED',
  SINK_FAILED: 'ANNALS_PROJ_ERR_SINK_FAILED',
  ALREADY_STARTED: 'ANNALS_PROJ_ERR_ALREADY_STARTED',
  DEAD_LETTER_NOT_FOUND: 'ANNALS_PROJ_ERR_DEAD_LETTER_NOT_FOUND',
  TIMEOUT: 'ANNALS_PROJ_ERR_TIMEOUT',
  SUPERSEDED: 'ANNALS_PROJ_ERR_SUPERSEDED',
} as const

/** Union of the codes in {@link ProjectionErrorCodes}. */
export type ProjectionErrorCode = (typeof ProjectionErrorCodes)[keyof typeof ProjectionErrorCodes]

/** A schema, table or projection name is not a plain SQL identifier / key segment. */
export class ProjectionInvalidIdentifierError extends AnnalsError<'ANNALS_PROJ_ERR_INVALID_IDENTIFIER'> {
  declare readonly identifier: string
  constructor(what: string, identifier: string) {
    super(
      ProjectionErrorCodes.INVALID_IDENTIFIER,
      `Invalid ${what} ${JSON.stringify(identifier)}: use lower-case letters, digits and underscores, starting with a letter or underscore (at most 48 characters)`,
      { fields: { identifier } },
    )
  }
}

/** A projection definition is malformed (no handled types, a handler for an unhandled type, a bad version). */
export class InvalidProjectionDefinitionError extends AnnalsError<'ANNALS_PROJ_ERR_INVALID_DEFINITION'> {
  declare readonly projection: string
  constructor(projection: string, message: string) {
    super(ProjectionErrorCodes.INVALID_DEFINITION, `Projection "${projection}": ${message}`, { fields: { projection } })
  }
}

/** An option given to the runner, a sink or the CLI is out of range. */
export class ProjectionInvalidOptionError extends AnnalsError<'ANNALS_PROJ_ERR_INVALID_OPTION'> {
  declare readonly option: string
  constructor(option: string, message: string) {
    super(ProjectionErrorCodes.INVALID_OPTION, `Invalid option ${option}: ${message}`, { fields: { option } })
  }
}

/** Two projections given to one runner (or one config) share a name. */
export class DuplicateProjectionError extends AnnalsError<'ANNALS_PROJ_ERR_DUPLICATE_PROJECTION'> {
  declare readonly projection: string
  constructor(projection: string) {
    super(ProjectionErrorCodes.DUPLICATE_PROJECTION, `Projection "${projection}" is defined more than once`, {
      fields: { projection },
    })
  }
}

/** A projection name was asked for that no definition carries. */
export class UnknownProjectionError extends AnnalsError<'ANNALS_PROJ_ERR_UNKNOWN_PROJECTION'> {
  declare readonly projection: string
  declare readonly known: readonly string[]
  constructor(projection: string, known: readonly string[]) {
    super(
      ProjectionErrorCodes.UNKNOWN_PROJECTION,
      `Unknown projection "${projection}"; known: ${known.length ? known.join(', ') : '(none)'}`,
      { fields: { projection, known } },
    )
  }
}

/** Creating or upgrading the projections tables failed. `cause` holds the database error. */
export class ProjectionMigrationError extends AnnalsError<'ANNALS_PROJ_ERR_MIGRATION'> {
  declare readonly migration: string | undefined
  constructor(message: string, migration: string | undefined, options?: { cause?: unknown }) {
    super(ProjectionErrorCodes.MIGRATION, message, { ...options, fields: { migration } })
  }
}

/** This worker's lease on a projection was taken over (or expired): its writes were fenced off. */
export class LeaseLostError extends AnnalsError<'ANNALS_PROJ_ERR_LEASE_LOST'> {
  declare readonly projection: string
  declare readonly token: bigint
  constructor(projection: string, token: bigint) {
    super(
      ProjectionErrorCodes.LEASE_LOST,
      `Lease on projection "${projection}" with fencing token ${token.toString()} is no longer held; commit rejected`,
      { fields: { projection, token } },
    )
  }
}

/** True when `error` is a {@link LeaseLostError}. */
export function isLeaseLostError(error: unknown): error is LeaseLostError {
  return isAnnalsError(error, ProjectionErrorCodes.LEASE_LOST)
}

/**
 * A projection handler threw. `cause` is what it threw; `index` is the event's place in its batch, or
 * -1 when a batch handler (`applyBatch`) failed as a whole.
 */
export class HandlerFailedError extends AnnalsError<'ANNALS_PROJ_ERR_HANDLER_FAILED'> {
  declare readonly projection: string
  declare readonly eventId: string
  declare readonly index: number
  constructor(projection: string, eventId: string, index: number, options: { cause: unknown }) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause)
    super(ProjectionErrorCodes.HANDLER_FAILED, `Projection "${projection}" failed on event ${eventId}: ${reason}`, {
      ...options,
      fields: { projection, eventId, index },
    })
  }
}

/** True when `error` is a {@link HandlerFailedError}. */
export function isHandlerFailedError(error: unknown): error is HandlerFailedError {
  return isAnnalsError(error, ProjectionErrorCodes.HANDLER_FAILED)
}

/** A sink could not commit (server unreachable, script error). Retried with backoff, never dead-lettered. */
export class SinkFailedError extends AnnalsError<'ANNALS_PROJ_ERR_SINK_FAILED'> {
  declare readonly sink: string
  constructor(sink: string, message: string, options?: { cause?: unknown }) {
    super(ProjectionErrorCodes.SINK_FAILED, `Sink ${sink}: ${message}`, { ...options, fields: { sink } })
  }
}

/** `start()` was called on a runner that is already running. */
export class ProjectionAlreadyStartedError extends AnnalsError<'ANNALS_PROJ_ERR_ALREADY_STARTED'> {
  constructor() {
    super(ProjectionErrorCodes.ALREADY_STARTED, 'The projection runner is already started')
  }
}

/** A dead letter id was asked for that does not exist (or belongs to another projection). */
export class DeadLetterNotFoundError extends AnnalsError<'ANNALS_PROJ_ERR_DEAD_LETTER_NOT_FOUND'> {
  declare readonly id: bigint
  constructor(id: bigint) {
    super(ProjectionErrorCodes.DEAD_LETTER_NOT_FOUND, `Dead letter ${id.toString()} does not exist`, { fields: { id } })
  }
}

/** A wait (for a runner to become idle, for a rebuild to finish) ran out of time. */
export class ProjectionTimeoutError extends AnnalsError<'ANNALS_PROJ_ERR_TIMEOUT'> {
  declare readonly timeoutMs: number
  constructor(what: string, timeoutMs: number) {
    super(ProjectionErrorCodes.TIMEOUT, `Timed out after ${timeoutMs} ms waiting for ${what}`, {
      fields: { timeoutMs },
    })
  }
}

/**
 * A worker's definition of a projection is older than the highest version deployed (live, being
 * built, or holding the lease): it may not take the lease, so it never rebuilds, swaps or writes the
 * read model with older code. The runner keeps it standing by in state `superseded`.
 */
export class ProjectionSupersededError extends AnnalsError<'ANNALS_PROJ_ERR_SUPERSEDED'> {
  declare readonly projection: string
  declare readonly version: number
  declare readonly highestVersion: number
  constructor(projection: string, version: number, highestVersion: number) {
    super(
      ProjectionErrorCodes.SUPERSEDED,
      `Projection "${projection}" version ${String(version)} is superseded by version ${String(highestVersion)}: this worker stands by and never takes it over`,
      { fields: { projection, version, highestVersion } },
    )
  }
}

/** True when `error` is a {@link ProjectionSupersededError}. */
export function isProjectionSupersededError(error: unknown): error is ProjectionSupersededError {
  return isAnnalsError(error, ProjectionErrorCodes.SUPERSEDED)
}
