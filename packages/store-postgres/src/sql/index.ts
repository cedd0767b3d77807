// @annals/store-postgres/sql: the one Postgres toolkit every Annals package builds on (identifiers,
// migrations, guarded checkouts, transactions). Applications rarely need it; adapters and extensions do.
export {
  isPgConnectionLostError,
  PgConnectionLostError,
  PgInvalidIdentifierError,
  PgInvalidOptionError,
  PgMigrationError,
  PgNotMigratedError,
} from '../errors.js'
export { type CheckedOutClient, checkOut } from './check-out.js'
export {
  type KyselyLike,
  type PgliteLike,
  type PgliteTransactionLike,
  type SqlExecutor,
  type SqlRunner,
  type StoreConnection,
  toExecutor,
} from './executor.js'
export {
  LONGEST_DERIVED_NAME,
  quoteIdentifier,
  type TableLocation,
  type TableNames,
  tableNames,
  validateSchemaName,
  validateTablePrefix,
} from './identifiers.js'
export { type RunMigrationsOptions, runMigrations, type SqlMigration } from './migrator.js'
export { inTransaction, type TransactionOptions, withClient, withTransaction } from './transaction.js'
