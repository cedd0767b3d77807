export {
  isRabbitMqPublishError,
  RabbitMqAlreadyStartedError,
  RabbitMqChannelClosedError,
  RabbitMqDeclarationError,
  RabbitMqDeliveryLimitError,
  type RabbitMqErrorCode,
  RabbitMqErrorCodes,
  RabbitMqInvalidMessageError,
  RabbitMqInvalidOptionError,
  RabbitMqNackedError,
  RabbitMqNoHandlerError,
  RabbitMqUnroutableError,
} from './errors.js'
export { RabbitMqHeaders, type RabbitMqMessage } from './message-format.js'
export {
  createRabbitMqConsumer,
  defineRabbitMqHandler,
  type InboxTransaction,
  type RabbitMqConsumer,
  type RabbitMqConsumerOptions,
  type RabbitMqDeliveryOutcome,
  type RabbitMqHandler,
} from './rabbitmq-consumer.js'
export { createRabbitMqPublisher, type RabbitMqPublisherOptions } from './rabbitmq-publisher.js'
export { routingKeyOf } from './routing-key.js'
export {
  type ConsumerQueueTopology,
  type DeclareConsumerQueueOptions,
  type DeclareExchangeOptions,
  deadLetterExchangeName,
  deadLetterQueueName,
  declareConsumerQueue,
  declareExchange,
  deleteConsumerQueue,
  type ExchangeKind,
  type RabbitMqConnection,
} from './topology.js'
