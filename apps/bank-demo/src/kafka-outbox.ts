import { createKafkaPublisher } from '@annals/kafka'
import type { Logger } from 'pino'
import type { BrokerTarget } from './rabbitmq-outbox.js'

/**
 * The Kafka target of `KAFKA_BROKERS`: the outbox topic (`bank.transactions`, with a prefix in tests) on
 * the listed brokers, keyed by account stream so one account's transactions stay in order on one
 * partition. The demo lets the broker create the topic on first send (its default partition count),
 * because a demo has no deploy step that could create it up front.
 */
export function kafkaOutbox(brokers: string, topic: string, logger: Logger, prefix = ''): BrokerTarget {
  const publisher = createKafkaPublisher({
    brokers,
    clientId: 'bank-demo-outbox',
    topicName: (t) => `${prefix}${t}`,
    autocreateTopics: true,
    logger,
  })
  return {
    publisher,
    describe: `Kafka topic ${prefix}${topic} at ${brokers}`,
    async release() {
      await publisher.close()
    },
  }
}
