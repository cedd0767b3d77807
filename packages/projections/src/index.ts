export {
  createProjectionAdmin,
  getProjectionStatus,
  type PartitionStatus,
  type ProjectionAdmin,
  type ProjectionAdminOptions,
  type ProjectionStatus,
} from './admin.js'
export type {
  DeadLetter,
  DeadLetterReason,
  DeadLetterStatus,
  ListDeadLettersOptions,
} from './dead-letters.js'
export {
  DeadLetterNotFoundError,
  DuplicateProjectionError,
  HandlerFailedError,
  InvalidProjectionDefinitionError,
  isHandlerFailedError,
  isLeaseLostError,
  isProjectionSupersededError,
  LeaseLostError,
  ProjectionAlreadyStartedError,
  type ProjectionErrorCode,
  ProjectionErrorCodes,
  ProjectionInvalidIdentifierError,
  ProjectionInvalidOptionError,
  ProjectionMigrationError,
  ProjectionSupersededError,
  ProjectionTimeoutError,
  SinkFailedError,
  UnknownProjectionError,
} from './errors.js'
export {
  type HealthSource,
  type ProjectionHealthServer,
  type ProjectionHealthServerOptions,
  type ProjectionReadiness,
  projectionReadiness,
  type ReadinessLimits,
  type ReadinessReport,
  startProjectionHealthServer,
} from './health-server.js'
export type { Lease } from './lease.js'
export {
  type MigrateProjectionsOptions,
  type MigrateProjectionsResult,
  migrateProjections,
} from './migrate-projections.js'
export { DEFAULT_SCHEMA } from './names.js'
export type { PartitionRuntimeStatus, PartitionState } from './partitions/partition-group.js'
export { partitionOf } from './partitions/partition-of.js'
export {
  createPostgresPendingCounter,
  type PostgresPendingCounterOptions,
} from './postgres-pending-counter.js'
export {
  type AnyProjection,
  defineProjection,
  defineProjectionFor,
  type HandledEvents,
  type HandledType,
  type Projection,
  type ProjectionHandlers,
  type ProjectionInput,
} from './projection.js'
export { createProjectionRunner, type ProjectionRunner } from './runner/create-projection-runner.js'
export type { ProjectionRunnerOptions, RetryOptions } from './runner/runner-options.js'
export type {
  FenceHold,
  FenceHolderInfo,
  ProjectionRuntimeStatus,
  ProjectionState,
} from './runner/runner-status.js'
export type {
  ReadModelSink,
  SinkBatch,
  SinkCommitResult,
  SinkContextOf,
  SinkRejection,
  SinkTarget,
} from './sink.js'
export {
  createPostgresSink,
  type PostgresSinkContext,
  type PostgresSinkOptions,
} from './sinks/postgres-sink.js'
export {
  createRedisReadModel,
  createRedisSink,
  type RedisReadModel,
  type RedisReadModelOptions,
  type RedisScalar,
  type RedisSinkOptions,
  type RedisWriter,
} from './sinks/redis-sink.js'
