export {
  type CheckpointStore,
  compareCheckpoints,
  LOG_START,
  type LogCheckpoint,
  type LogWatcher,
} from './checkpoint.js'
export {
  AnnalsError,
  ConcurrencyError,
  type CoreErrorCode,
  CoreErrorCodes,
  DomainError,
  isAnnalsError,
  isConcurrencyError,
  isDomainError,
  isValidationError,
  ValidationError,
  type ValidationIssue,
} from './errors.js'
export type { Event, EventMetadata, ImportedEvent, NewEvent, RecordedEvent, StreamId } from './event.js'
export type {
  AppendOptions,
  AppendResult,
  EventStore,
  ReadAllOptions,
  ReadAllResult,
  ReadStreamOptions,
  ReadStreamResult,
  StreamAppend,
} from './event-store.js'
export { type ExpectedVersion, matchesExpectedVersion, NO_STREAM_VERSION } from './expected-version.js'
export type { IdempotencyRecord, IdempotencyStore } from './idempotency-store.js'
export type { EventPublisher, OutboundMessage } from './publisher.js'
export type { Snapshot, SnapshotQuery, SnapshotStore } from './snapshot-store.js'
