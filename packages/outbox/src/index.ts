export { type BackoffPolicy, exponentialBackoff } from './backoff.js'
export {
  AlreadyStartedError,
  InvalidIdentifierError,
  InvalidOptionError,
  InvalidPublicationError,
  isPublishFailedError,
  MalformedMessageError,
  type OutboxErrorCode,
  OutboxErrorCodes,
  OutboxMigrationError,
  PublishFailedError,
  PublishTimeoutError,
} from './errors.js'
export {
  createIdempotentHandler,
  type IdempotentHandlerOptions,
  type IdempotentOutcome,
  pruneProcessedMessages,
} from './idempotent-handler.js'
export { type MigrateOutboxOptions, type MigrateOutboxResult, migrateOutbox } from './migrate-outbox.js'
export type { OutboxTableOptions } from './names.js'
export {
  cleanupSentMessages,
  type DeadMessage,
  getOutboxStatus,
  listDeadMessages,
  type OutboxLocation,
  type OutboxStatus,
  retryDeadMessages,
} from './outbox-admin.js'
export { createOutboxMetrics, type OutboxMetrics, type OutboxMetricsOptions } from './outbox-metrics.js'
export {
  createOutboxRelay,
  type OutboxRelay,
  type OutboxRelayOptions,
  type RelayBatchResult,
  type RelayedMessage,
} from './outbox-relay.js'
export {
  envelopeHeaders,
  type IntegrationMessage,
  type PublicationMap,
  type PublicationRoute,
  type PublishFunction,
  publicationMap,
} from './publication-map.js'
export {
  type ConsumedMessage,
  type ConsumeResult,
  createRedisStreamsConsumer,
  deadLetterStreamKey,
  ensureConsumerGroup,
  parseStreamEntry,
  type RedisStreamsConsumer,
  type RedisStreamsConsumerOptions,
} from './redis-streams-consumer.js'
export {
  createRedisStreamsPublisher,
  type RedisStreamsPublisherOptions,
  StreamFields,
  streamKey,
} from './redis-streams-publisher.js'
