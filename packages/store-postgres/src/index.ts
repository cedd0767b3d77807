export { type DatabaseUrl, parseDatabaseUrl, redactConnectionString } from './database-url.js'
export {
  isPgConnectionLostError,
  isPgStoreError,
  PgAppendOutcomeUnknownError,
  PgConnectionLostError,
  PgInvalidDatabaseUrlError,
  PgInvalidIdentifierError,
  PgInvalidOptionError,
  PgMigrationError,
  PgNotMigratedError,
  type PgStoreErrorCode,
  PgStoreErrorCodes,
  PgTenantScopeError,
  PgThrowawayPostgresError,
  PgUnexpectedResultError,
  type UnknownAppendStream,
} from './errors.js'
export type { AppendLimits } from './event-store/append-input.js'
export type { GroupCommitOptions } from './event-store/group-commit.js'
export type { CountEventsOptions, LogHead, LogHeadOptions } from './event-store/log-reads.js'
export type { OutboxOptions } from './event-store/outbox-rows.js'
export {
  createPostgresEventStore,
  type PostgresEventStore,
  type PostgresEventStoreOptions,
} from './event-store/postgres-event-store.js'
export {
  type FenceHolder,
  getLogFenceStatus,
  type LogFenceStatus,
} from './log-fence.js'
export { mapPgError } from './map-pg-error.js'
export { type MigrateOptions, type MigrateResult, migrate } from './migrate.js'
export {
  createPgliteEventStore,
  createPgliteStores,
  type PgliteStores,
  type PgliteStoresOptions,
} from './pglite.js'
export {
  type CheckpointTableOptions,
  createPostgresCheckpointStore,
  loadCheckpointInTransaction,
  type PostgresCheckpointStoreOptions,
  storeCheckpointInTransaction,
} from './postgres-checkpoint-store.js'
export { createPostgresDataKeys, type PostgresDataKeysOptions } from './postgres-data-keys.js'
export {
  createPostgresIdempotencyStore,
  type PostgresIdempotencyStoreOptions,
} from './postgres-idempotency-store.js'
export {
  createPostgresLogWatcher,
  type PostgresLogWatcher,
  type PostgresLogWatcherOptions,
} from './postgres-log-watcher.js'
export { createPostgresSnapshotStore, type PostgresSnapshotStoreOptions } from './postgres-snapshot-store.js'
export type { PgliteLike, PgliteTransactionLike, SqlRunner, StoreConnection } from './sql/executor.js'
export { ALL_TENANTS, DEFAULT_TENANT, type TenantScope } from './tenancy.js'
