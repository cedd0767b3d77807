import { type EventPublisher, type Logger, type OutboundMessage, silentLogger } from '@annals/core'
import { PublishFailedError } from '@annals/outbox'
import { ProduceAcks, Producer, stringSerializers } from '@platformatic/kafka'
import { type Brokers, parseBrokers } from './brokers.js'
import { closeNow, describe } from './client.js'
import { KafkaHeaders } from './headers.js'

/** Options of {@link createKafkaPublisher}. */
export type KafkaPublisherOptions = Readonly<{
  brokers: Brokers
  /** Default `annals-outbox`. */
  clientId?: string
  /** Maps an outbox topic to a Kafka topic. Default: the same name. */
  topicName?: (topic: string) => string
  /** How long the client waits for the broker per request. Default 10 s (the relay's `publishTimeoutMs` still bounds a batch). */
  requestTimeoutMs?: number
  /** Create missing topics on first send (broker default partitions). Default false: create topics up front. */
  autocreateTopics?: boolean
  /** Default: silent. */
  logger?: Logger
}>

/** A Kafka {@link EventPublisher} with a `close()` that ends its connections. */
export interface KafkaPublisher extends EventPublisher {
  close(): Promise<void>
}

/**
 * An {@link EventPublisher} for the outbox relay writing each message to Kafka: the record key is the
 * partition key (so one key stays on one partition, in order), the value the JSON payload, and the
 * headers the message's own (correlation, causation, trace context) plus `annals-message-id` and
 * `annals-message-type`. The producer is idempotent with `acks = all`, so a batch resolves only once
 * every in-sync replica has it, and the broker drops the client's own retries of a record.
 *
 * A batch goes in one `send`, in the relay's order, so the records of one key land in that order.
 * When a send fails, the whole batch is reported as not acknowledged (the relay retries it with its
 * backoff: at least once, a record may then be written twice) and the producer is replaced, so a
 * broker that comes back is met with a fresh producer id instead of stale sequence numbers.
 */
export function createKafkaPublisher(options: KafkaPublisherOptions): KafkaPublisher {
  const bootstrapBrokers = parseBrokers(options.brokers)
  const clientId = options.clientId ?? 'annals-outbox'
  const topicName = options.topicName ?? ((t: string) => t)
  const logger = options.logger ?? silentLogger
  let producer: Producer<string, string, string, string> | undefined
  let closed = false
  // @platformatic/kafka advances an idempotent producer's sequence numbers only when a response
  // arrives, so two sends in flight on one producer reuse the same numbers and the broker refuses the
  // second with OUT_OF_ORDER_SEQUENCE_NUMBER. The relay keeps several batches in flight (its claim and
  // marking overlap the send), so sends queue here and reach the producer one at a time.
  let sendQueue: Promise<unknown> = Promise.resolve()

  const current = () => {
    producer ??= new Producer({
      clientId,
      bootstrapBrokers,
      serializers: stringSerializers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      autocreateTopics: options.autocreateTopics ?? false,
      timeout: options.requestTimeoutMs ?? 10_000,
      retries: 2,
      retryDelay: 200,
    })
    return producer
  }

  const discard = (p: Producer<string, string, string, string>) => {
    if (producer === p) producer = undefined
    void closeNow(p)
  }

  return {
    async publish(messages: readonly OutboundMessage[]): Promise<void> {
      if (messages.length === 0) return
      if (closed)
        throw new PublishFailedError(
          messages.map((m) => m.messageId),
          'The Kafka publisher is closed',
        )
      const turn = sendQueue.then(() => send(messages))
      sendQueue = turn.catch(() => undefined)
      await turn
    },
    async close(): Promise<void> {
      closed = true
      await sendQueue
      const p = producer
      producer = undefined
      if (p) await p.close()
    },
  }

  async function send(messages: readonly OutboundMessage[]): Promise<void> {
    const p = current()
    try {
      await p.send({
        messages: messages.map((m) => ({
          topic: topicName(m.topic),
          key: m.partitionKey,
          value: JSON.stringify(m.payload ?? null),
          headers: { ...m.headers, [KafkaHeaders.messageId]: m.messageId, [KafkaHeaders.type]: m.type },
        })),
      })
    } catch (error) {
      logger.warn({ err: error, messages: messages.length }, 'kafka send failed; replacing the producer')
      discard(p)
      throw new PublishFailedError(
        messages.map((m) => m.messageId),
        `Kafka did not acknowledge ${messages.length} message(s): ${describe(error)}`,
        { cause: error },
      )
    }
  }
}
