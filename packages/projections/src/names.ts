import { type TableLocation, type TableNames, tableNames } from '@annals/store-postgres/sql'
import { ProjectionInvalidIdentifierError } from './errors.js'

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/

/**
 * Throws unless `value` is a plain lower-case identifier. Not for SQL schemas or tables: those follow
 * the store's rule (`@annals/store-postgres/sql`). Kept for names that are neither.
 */
export function assertIdentifier(what: string, value: string): string {
  if (!IDENTIFIER.test(value)) throw new ProjectionInvalidIdentifierError(what, value)
  return value
}

const PROJECTION_TABLES = {
  registry: 'projections',
  leases: 'projection_leases',
  deadLetters: 'projection_dead_letters',
  checkpoints: 'projection_checkpoints',
  partitionLeases: 'projection_partition_leases',
  partitionCheckpoints: 'projection_partition_checkpoints',
  members: 'projection_members',
  partitionTokens: 'projection_partition_token_seq',
} as const

/**
 * The qualified, quoted names of this package's tables in one schema, plus the ledger of its
 * migrations (`annals_projections_migrations`, in kysely's format since release 0.1).
 */
export type ProjectionTables = TableNames<keyof typeof PROJECTION_TABLES> &
  Readonly<{
    /** The unqualified, unquoted migration ledger. */
    ledger: string
  }>

/** Default schema of the projection tables (the event store's default too). */
export const DEFAULT_SCHEMA = 'annals'

/**
 * Validates the location (the store's identifier rule) and names the projection tables: the one place
 * that does, for the runner, the admin API, the Postgres sink and the migration. A string is the schema;
 * a location (or a sink target) may add a table prefix.
 * @example const t = projectionTables('Bank') // t.leases === '"Bank"."projection_leases"'
 * @example projectionTables({ schema: 'Bank', tablePrefix: 'p_' }).leases // '"Bank"."p_projection_leases"'
 */
export function projectionTables(location: TableLocation | string = {}): ProjectionTables {
  const names = tableNames(
    typeof location === 'string' ? { schema: location } : { schema: DEFAULT_SCHEMA, ...location },
    PROJECTION_TABLES,
  )
  return { ...names, ledger: names.raw('annals_projections_migrations') }
}
