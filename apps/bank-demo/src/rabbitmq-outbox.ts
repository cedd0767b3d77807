import type { EventPublisher } from '@annals/core'
import { isPublishFailedError, PublishFailedError } from '@annals/outbox'
import { createRabbitMqPublisher, declareConsumerQueue } from '@annals/rabbitmq'
import amqp from 'amqplib'
import type { Logger } from 'pino'

/** A broker the outbox relay publishes to besides (or instead of) Redis Streams. */
export type BrokerTarget = Readonly<{ publisher: EventPublisher; describe: string; release(): Promise<void> }>

/**
 * The RabbitMQ target of `AMQP_URL`: a topic exchange per outbox topic (`bank.transactions`, routing keys
 * `bank.deposit` and `bank.withdrawal`), publisher confirms, and one demo queue bound to everything
 * (`bank.transactions.all`, with its dead-letter queue) so that the mandatory publishes have somewhere to
 * go and can be seen with `rabbitmqctl list_queues`.
 */
export async function rabbitMqOutbox(
  url: string,
  topic: string,
  logger: Logger,
  /** Put before the exchange and queue names (tests keep theirs apart with it). Default none. */
  prefix = '',
): Promise<BrokerTarget> {
  const connection = await amqp.connect(url, { recovery: true })
  connection.on('error', (error: unknown) => logger.warn({ err: error }, 'RabbitMQ connection failed: reconnecting'))
  const exchange = `${prefix}${topic}`
  const queue = `${exchange}.all`
  await declareConsumerQueue({ connection, queue, exchange, bindings: ['#'] })
  const publisher = createRabbitMqPublisher({ connection, logger, exchange: (t) => `${prefix}${t}` })
  const where = new URL(url)
  return {
    publisher,
    describe: `RabbitMQ topic exchange ${exchange} at ${where.hostname}:${where.port || 5672} (queue ${queue})`,
    async release() {
      await publisher.close?.()
      await connection.close().catch(() => undefined)
    },
  }
}

/**
 * One publisher over several brokers: a batch is acknowledged once every broker acknowledged it. A
 * message any broker refused is retried on all of them (the others see it twice; consumers dedupe).
 */
export function publishToAll(publishers: readonly EventPublisher[]): EventPublisher {
  if (publishers.length === 1 && publishers[0]) return publishers[0]
  return {
    async publish(messages) {
      const results = await Promise.allSettled(publishers.map((p) => p.publish(messages)))
      const refused = new Set<string>()
      let first: unknown
      for (const r of results) {
        if (r.status === 'fulfilled') continue
        first ??= r.reason
        if (!isPublishFailedError(r.reason) || r.reason.messageIds.length === 0) throw r.reason
        for (const id of r.reason.messageIds) refused.add(id)
      }
      if (first !== undefined) {
        throw new PublishFailedError([...refused], `A broker refused ${refused.size} message(s)`, { cause: first })
      }
    },
    async close() {
      await Promise.all(publishers.map((p) => p.close?.()))
    },
  }
}
