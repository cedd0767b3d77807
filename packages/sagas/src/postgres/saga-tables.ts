import { type TableNames, tableNames } from '@annals/store-postgres/sql'

/** Default schema of the saga tables (the event store's default too). */
export const DEFAULT_SAGA_SCHEMA = 'annals'

/** The validated schema and the quoted, schema-qualified names of the saga tables. @internal */
export type SagaTables = TableNames<'instances' | 'migrations'>

/**
 * Validates `schema` with the toolkit's one identifier rule (so a schema the store accepts, sagas
 * accept: `Bank`, 63 bytes; otherwise `PgInvalidIdentifierError`) and qualifies the saga tables in it.
 * @internal
 */
export function sagaTables(schema: string = DEFAULT_SAGA_SCHEMA): SagaTables {
  return tableNames({ schema }, { instances: 'saga_instances', migrations: 'saga_migrations' })
}
