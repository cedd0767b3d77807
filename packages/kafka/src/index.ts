export { type Brokers, parseBrokers } from './brokers.js'
export {
  isKafkaGroupActiveError,
  KafkaAlreadyStartedError,
  KafkaBrokerError,
  type KafkaErrorCode,
  KafkaErrorCodes,
  KafkaGroupActiveError,
  KafkaInvalidMessageError,
  KafkaInvalidOptionError,
  KafkaUnknownGroupError,
  KafkaUnknownTopicError,
} from './errors.js'
export { DeadLetterHeaders, deadLetterTopic, KafkaHeaders, traceHeaders } from './headers.js'
export {
  createKafkaAdmin,
  type KafkaAdmin,
  type KafkaAdminOptions,
  type KafkaDeadLetter,
  type KafkaGroupInfo,
  type OffsetReset,
  type OffsetTarget,
  redriveCursorGroup,
} from './kafka-admin.js'
export {
  createKafkaConsumer,
  type KafkaConsumedMessage,
  type KafkaConsumeOutcome,
  type KafkaConsumer,
  type KafkaConsumerOptions,
  type KafkaEventHandler,
  kafkaHandler,
} from './kafka-consumer.js'
export {
  createKafkaConsumerMetrics,
  type KafkaConsumerMetrics,
  type KafkaConsumerMetricsOptions,
  type PartitionLag,
} from './kafka-metrics.js'
export { createKafkaPublisher, type KafkaPublisher, type KafkaPublisherOptions } from './kafka-publisher.js'
