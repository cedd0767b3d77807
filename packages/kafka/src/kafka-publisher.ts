import { type EventPublisher, type Logger, type OutboundMessage, payloadText, silentLogger } from '@annals/core'
import { integerOption } from '@annals/core/runtime'
import { PublishFailedError } from '@annals/outbox'
import { ProduceAcks, Producer, stringSerializers } from '@platformatic/kafka'
import { type Brokers, parseBrokers } from './brokers.js'
import { closeNow, describe } from './client.js'
import { KafkaInvalidOptionError } from './errors.js'
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
  /**
   * Batches sent at once, each on its own idempotent producer (batches sharing a key still go one after
   * the other). Default 2, the relay's default `pipelineDepth`.
   */
  maxInFlight?: number
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
 * `annals-message-type`. The producers are idempotent with `acks = all`, so a batch resolves only once
 * every in-sync replica has it, and the broker drops the client's own retries of a record.
 *
 * A batch goes in one `send`, in the relay's order, so the records of one key land in that order.
 * Up to `maxInFlight` batches are sent at once, each on its own producer, but never two that share a
 * key: a batch waits (in publish order) while an earlier one holding one of its keys is in flight, so
 * per-key order holds for any caller, not only the relay (whose batches hold disjoint keys anyway).
 * When a send fails, the whole batch is reported as not acknowledged (the relay retries it with its
 * backoff: at least once, a record may then be written twice) and its producer is replaced, so a
 * broker that comes back is met with a fresh producer id instead of stale sequence numbers.
 */
export function createKafkaPublisher(options: KafkaPublisherOptions): KafkaPublisher {
  const bootstrapBrokers = parseBrokers(options.brokers)
  const clientId = options.clientId ?? 'annals-outbox'
  const topicName = options.topicName ?? ((t: string) => t)
  const logger = options.logger ?? silentLogger
  const maxInFlight = integerOption('maxInFlight', options.maxInFlight, 2, 1, (name, reason) => {
    return new KafkaInvalidOptionError(name, reason)
  })
  // @platformatic/kafka advances an idempotent producer's sequence numbers only when a response
  // arrives, so two sends in flight on one producer reuse the same numbers and the broker refuses the
  // second with OUT_OF_ORDER_SEQUENCE_NUMBER. Each send in flight therefore has a producer of its own.
  const idle: Producer<string, string, string, string>[] = []
  const all = new Set<Producer<string, string, string, string>>()
  const keysInFlight = new Set<string>()
  const waiting: Turn[] = []
  let sending = 0
  let closed = false
  let drained: (() => void) | undefined

  const newProducer = () => {
    const p = new Producer<string, string, string, string>({
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
    all.add(p)
    return p
  }

  const discard = (p: Producer<string, string, string, string>) => {
    all.delete(p)
    void closeNow(p)
  }

  // Strictly in publish order: a later batch never overtakes an earlier waiting one, so a key's batches
  // reach Kafka in the order they were published even when the earlier one waits for a producer.
  const pump = () => {
    while (waiting.length > 0 && sending < maxInFlight) {
      const next = waiting[0] as Turn
      if (next.keys.some((k) => keysInFlight.has(k))) return
      waiting.shift()
      sending += 1
      for (const k of next.keys) keysInFlight.add(k)
      const p = idle.pop() ?? newProducer()
      void send(p, next.messages).then(
        () => {
          idle.push(p)
          finish(next, undefined)
        },
        (error: unknown) => {
          discard(p)
          finish(next, error)
        },
      )
    }
    if (sending === 0 && waiting.length === 0) drained?.()
  }

  const finish = (turn: Turn, error: unknown) => {
    sending -= 1
    for (const k of turn.keys) keysInFlight.delete(k)
    if (error === undefined) turn.resolve()
    else turn.reject(error)
    pump()
  }

  return {
    publish(messages: readonly OutboundMessage[]): Promise<void> {
      if (messages.length === 0) return Promise.resolve()
      if (closed)
        return Promise.reject(
          new PublishFailedError(
            messages.map((m) => m.messageId),
            'The Kafka publisher is closed',
          ),
        )
      return new Promise<void>((resolve, reject) => {
        const keys = [...new Set(messages.map((m) => `${topicName(m.topic)}\u0000${m.partitionKey}`))]
        waiting.push({ messages, keys, resolve, reject })
        pump()
      })
    },
    async close(): Promise<void> {
      closed = true
      if (sending > 0 || waiting.length > 0)
        await new Promise<void>((resolve) => {
          drained = resolve
        })
      idle.length = 0
      const producers = [...all]
      all.clear()
      await Promise.all(producers.map((p) => p.close()))
    },
  }

  async function send(p: Producer<string, string, string, string>, messages: readonly OutboundMessage[]) {
    try {
      await p.send({
        messages: messages.map((m) => ({
          topic: topicName(m.topic),
          key: m.partitionKey,
          value: payloadText(m),
          headers: { ...m.headers, [KafkaHeaders.messageId]: m.messageId, [KafkaHeaders.type]: m.type },
        })),
      })
    } catch (error) {
      logger.warn({ err: error, messages: messages.length }, 'kafka send failed; replacing the producer')
      throw new PublishFailedError(
        messages.map((m) => m.messageId),
        `Kafka did not acknowledge ${messages.length} message(s): ${describe(error)}`,
        { cause: error },
      )
    }
  }
}

/** A batch waiting for (or holding) a producer, with the topic-qualified keys it holds while in flight. */
type Turn = Readonly<{
  messages: readonly OutboundMessage[]
  keys: readonly string[]
  resolve: () => void
  reject: (error: unknown) => void
}>
