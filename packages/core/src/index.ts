export {
  type Aggregate,
  type AggregateCommandInputOf,
  type AggregateCommandOf,
  type AggregateDefinition,
  type AggregateEventOf,
  type AnyAggregate,
  type Decider,
  defineAggregate,
  foldEvents,
  type StateOf,
} from './aggregate.js'
export type { BackoffPolicy } from './backoff.js'
export { type CheckpointStore, LOG_START, type LogCheckpoint, type LogWatcher } from './checkpoint.js'
export {
  type AnyCommandDefinition,
  type Command,
  type CommandDefinition,
  type CommandInputOf,
  type CommandInputUnionOf,
  type CommandMetadata,
  type CommandOf,
  type CommandRegistry,
  type CommandUnionOf,
  createCommandRegistry,
  defineCommand,
} from './command.js'
export {
  type CommandHandler,
  type CommandHandlerOf,
  type CommandHandlerOptions,
  type CommandResult,
  createCommandHandler,
  type HandleOptions,
  type RetryPolicy,
} from './command-handler.js'
export { causedBy, eventMetadataFor } from './correlation.js'
export {
  type CryptoShreddingStore,
  type CryptoShreddingStoreOptions,
  createCryptoShreddingStore,
  createInMemoryDataKeys,
  createLocalMasterKey,
  type DataKeyStore,
  type MasterKey,
  type StoredDataKey,
} from './crypto/crypto-shredding-store.js'
export { isRedacted, REDACTED, type Redacted } from './crypto/redacted.js'
export {
  AnnalsError,
  type AnnalsErrorOptions,
  AppendLimitExceededError,
  AsyncSchemaError,
  ConcurrencyError,
  type CoreErrorCode,
  CoreErrorCodes,
  DomainError,
  DuplicateEventIdError,
  type EventRegistryOwner,
  IdempotencyKeyReusedError,
  InvalidArgumentError,
  isAnnalsError,
  isConcurrencyError,
  isDomainError,
  isDuplicateEventIdError,
  isValidationError,
  MasterKeyMismatchError,
  PersonalDataUnreadableError,
  RetriesExhaustedError,
  StreamAlreadyExistsError,
  StreamNotFoundError,
  TimeTravelBackwardsError,
  UnknownCommandTypeError,
  UnknownEventTypeError,
  UnsupportedSchemaVersionError,
  ValidationError,
  type ValidationIssue,
} from './errors.js'
export type { Event, EventMetadata, ImportedEvent, NewEvent, RecordedEvent, StreamId } from './event.js'
export {
  type AnyEventDefinition,
  type CreateEventOptions,
  defineEvent,
  type EventDataOf,
  type EventDefinition,
  type EventOf,
  type EventSchemaVersion,
  type EventSource,
  type EventsOfSources,
  type EventUnionOf,
} from './event-definition.js'
export { createEventRegistry, type DecodeResult, type EventRegistry, type EventsOf } from './event-registry.js'
export type * from './event-store.js'
export { type ExpectedVersion, NO_STREAM_VERSION, type VersionsAreBigints_Write1nNot1 } from './expected-version.js'
export type { IdempotencyRecord, IdempotencyStore } from './idempotency-store.js'
export { deterministicId, fingerprint } from './ids.js'
export {
  type AggregateStores,
  type AsOf,
  type LoadAggregateOptions,
  type LoadedAggregate,
  loadAggregate,
} from './load-aggregate.js'
export { type Logger, type PartialLogger, silentLogger } from './logger.js'
export {
  type EventPublisher,
  type OutboundMessage,
  type OutboxMessage,
  type PublishableEvent,
  payloadText,
} from './publisher.js'
export {
  parseSchema,
  type Schema,
  type SchemaInput,
  type SchemaOutput,
  type ValidationResult,
  validateSchema,
} from './schema.js'
export { everyNEvents, type SnapshotContext, type SnapshotPolicy } from './snapshot-policy.js'
export type { Snapshot, SnapshotQuery, SnapshotStore } from './snapshot-store.js'
export {
  findUnstorableText,
  MAX_NAME_BYTES,
  MAX_SCHEMA_VERSION,
  MAX_STREAM_VERSION,
  type UnstorableText,
} from './stored-values.js'
export type { Worker } from './worker-lifecycle.js'
