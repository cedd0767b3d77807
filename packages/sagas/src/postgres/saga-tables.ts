import { type TableLocation, type TableNames, tableNames } from '@annals/store-postgres/sql'

/** Default schema of the saga tables (the event store's default too). */
export const DEFAULT_SAGA_SCHEMA = 'annals'

/** The validated schema and the quoted, schema-qualified names of the saga tables. @internal */
export type SagaTables = TableNames<'instances' | 'migrations'>

/**
 * Validates the location with the toolkit's one identifier rule (so a schema or table prefix the store
 * accepts, sagas accept: `Bank`, 63 bytes; otherwise `PgInvalidIdentifierError`) and qualifies the saga
 * tables in it.
 * @internal
 */
export function sagaTables(location: TableLocation = {}): SagaTables {
  return tableNames(
    { schema: location.schema ?? DEFAULT_SAGA_SCHEMA, tablePrefix: location.tablePrefix },
    { instances: 'saga_instances', migrations: 'saga_migrations' },
  )
}
