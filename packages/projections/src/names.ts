import { ProjectionInvalidIdentifierError } from './errors.js'

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/

/** Throws unless `value` is a plain lower-case identifier (safe as a SQL identifier and a Redis key segment). */
export function assertIdentifier(what: string, value: string): string {
  if (!IDENTIFIER.test(value)) throw new ProjectionInvalidIdentifierError(what, value)
  return value
}

/** Double-quotes an identifier that {@link assertIdentifier} accepted. */
export function quoteIdentifier(value: string): string {
  return `"${value.replaceAll('"', '""')}"`
}

/** The qualified, quoted names of this package's tables in one schema. */
export type ProjectionTables = Readonly<{
  schema: string
  registry: string
  leases: string
  deadLetters: string
  checkpoints: string
  replayed: string
  migrationTable: string
  migrationLockTable: string
}>

/** Default schema of the projection tables (the event store's default too). */
export const DEFAULT_SCHEMA = 'annals'

/** Resolves and quotes the table names for `schema` (validated). */
export function projectionTables(schema: string = DEFAULT_SCHEMA): ProjectionTables {
  assertIdentifier('schema', schema)
  const q = (t: string) => `${quoteIdentifier(schema)}.${quoteIdentifier(t)}`
  return {
    schema,
    registry: q('projections'),
    leases: q('projection_leases'),
    deadLetters: q('projection_dead_letters'),
    checkpoints: q('projection_checkpoints'),
    replayed: q('projection_replayed'),
    migrationTable: 'annals_projections_migrations',
    migrationLockTable: 'annals_projections_migrations_lock',
  }
}
