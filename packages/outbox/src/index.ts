export {
  InvalidPublicationError,
  isPublishFailedError,
  MalformedMessageError,
  OutboxAlreadyStartedError,
  type OutboxErrorCode,
  OutboxErrorCodes,
  OutboxInvalidOptionError,
  OutboxMigrationError,
  PublishFailedError,
  PublishTimeoutError,
  RedriveFailedError,
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
  type PublicationMap,
  type PublicationRoute,
  type PublishFunction,
  publicationMap,
} from './publication-map.js'
export {
  type ConsumedMessage,
  type ConsumeResult,
  createRedisStreamsConsumer,
  DeadLetterFields,
  deadLetterStreamKey,
  ensureConsumerGroup,
  parseStreamEntry,
  type RedisStreamsConsumer,
  type RedisStreamsConsumerOptions,
  RedriveFields,
} from './redis-streams-consumer.js'
export {
  type ConsumerDeadLetter,
  type ConsumerDeadLetterLocation,
  listConsumerDeadLetters,
  redriveConsumerDeadLetters,
} from './redis-streams-dead-letters.js'
export {
  createRedisStreamsPublisher,
  type RedisStreamsPublisherOptions,
  StreamFields,
  type StreamMaxLen,
  streamKey,
} from './redis-streams-publisher.js'
export type { RelayedMessage } from './relay/claim-batch.js'
export { createOutboxRelay, type OutboxRelay, type RelayBatchResult } from './relay/outbox-relay.js'
export type { OutboxRelayOptions } from './relay/relay-options.js'
