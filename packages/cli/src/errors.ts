import { AnnalsError } from '@annals/core'

/**
 * Every error code `@annals/cli` can raise (it also reports the codes of the packages it drives, such
 * as `ANNALS_PROJ_ERR_UNKNOWN_PROJECTION`). Documented in `packages/cli/docs/errors.md`.
 */
export const CliErrorCodes = {
  CONFIG_NOT_FOUND: 'ANNALS_CLI_ERR_CONFIG_NOT_FOUND',
  CONFIG_INVALID: 'ANNALS_CLI_ERR_CONFIG_INVALID',
  MISSING_ENV: 'ANNALS_CLI_ERR_MISSING_ENV',
  UNREACHABLE: 'ANNALS_CLI_ERR_UNREACHABLE',
  USAGE: 'ANNALS_CLI_ERR_USAGE',
  NOT_MIGRATED: 'ANNALS_CLI_ERR_NOT_MIGRATED',
  MISSING_PACKAGE: 'ANNALS_CLI_ERR_MISSING_PACKAGE',
} as const

/** Union of the codes in {@link CliErrorCodes}. */
export type CliErrorCode = (typeof CliErrorCodes)[keyof typeof CliErrorCodes]

/** No config file was found (or the given path does not exist). */
export class ConfigNotFoundError extends AnnalsError<'ANNALS_CLI_ERR_CONFIG_NOT_FOUND'> {
  declare readonly searched: readonly string[]
  constructor(searched: readonly string[]) {
    super(
      CliErrorCodes.CONFIG_NOT_FOUND,
      `No annals config found; looked for ${searched.join(', ')}. Create annals.config.ts (or .mjs/.js) exporting { projections }, or pass --config <file>`,
      { fields: { searched } },
    )
  }
}

/** The config file failed to load, or does not export `{ projections: [...] }`. */
export class ConfigInvalidError extends AnnalsError<'ANNALS_CLI_ERR_CONFIG_INVALID'> {
  declare readonly file: string
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(CliErrorCodes.CONFIG_INVALID, `Invalid config ${file}: ${message}`, { ...options, fields: { file } })
  }
}

// The next step for each variable the CLI reads, so the message can be followed as it is.
function envExample(variable: string): string {
  if (variable === 'DATABASE_URL')
    return 'export DATABASE_URL=postgres://user@localhost:5432/db (or pass --database-url <url>)'
  if (variable === 'REDIS_URL') return 'export REDIS_URL=redis://localhost:6379'
  if (variable === 'KAFKA_BROKERS') return 'export KAFKA_BROKERS=localhost:9092'
  return `export ${variable}=…`
}

function unreachableAdvice(service: 'postgres' | 'redis'): string {
  return service === 'postgres'
    ? 'Is PostgreSQL running there? Start it (docker compose up -d postgres, or your system service) or point DATABASE_URL (or --database-url) at a running server'
    : 'Is Redis running there? Start it (docker compose up -d redis, or your system service) or point REDIS_URL at a running server'
}

/** A required environment variable (DATABASE_URL, REDIS_URL) is not set. */
export class MissingEnvError extends AnnalsError<'ANNALS_CLI_ERR_MISSING_ENV'> {
  declare readonly variable: string
  constructor(variable: string, why: string) {
    super(CliErrorCodes.MISSING_ENV, `${variable} is not set (${why}): ${envExample(variable)}`, {
      fields: { variable },
    })
  }
}

/** PostgreSQL or Redis did not answer. `cause` holds the driver error. */
export class UnreachableError extends AnnalsError<'ANNALS_CLI_ERR_UNREACHABLE'> {
  declare readonly service: 'postgres' | 'redis'
  declare readonly target: string
  constructor(service: 'postgres' | 'redis', target: string, options?: { cause?: unknown }) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause ?? '')
    super(
      CliErrorCodes.UNREACHABLE,
      `Cannot reach ${service} at ${target}: ${reason || 'no answer'}. ${unreachableAdvice(service)}`,
      {
        ...options,
        fields: { service, target },
      },
    )
  }
}

/** The command line is malformed (a missing argument, conflicting options). */
export class UsageError extends AnnalsError<'ANNALS_CLI_ERR_USAGE'> {
  constructor(message: string) {
    super(CliErrorCodes.USAGE, message)
  }
}

/** The projection (or store) tables do not exist in the database yet. */
export class CliNotMigratedError extends AnnalsError<'ANNALS_CLI_ERR_NOT_MIGRATED'> {
  constructor(options?: { cause?: unknown }) {
    super(
      CliErrorCodes.NOT_MIGRATED,
      'The Annals tables are missing in this database (or schema, or under this table prefix): run `annals migrate` with the same --schema and --table-prefix',
      options,
    )
  }
}

/** A command needs an optional package (`@annals/outbox`, `@annals/sagas`, `ioredis`) that is not installed. */
export class MissingPackageError extends AnnalsError<'ANNALS_CLI_ERR_MISSING_PACKAGE'> {
  declare readonly packageName: string
  declare readonly command: string
  constructor(packageName: string, command: string, options?: { cause?: unknown }) {
    super(
      CliErrorCodes.MISSING_PACKAGE,
      `\`annals ${command}\` needs ${packageName}, which is not installed: add it to the project (npm install ${packageName}${packageName.startsWith('@annals/') ? ', the same version as @annals/cli' : ''})`,
      { ...options, fields: { packageName, command } },
    )
  }
}
