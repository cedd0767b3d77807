import type { Channel, ChannelModel } from 'amqplib'
import { RabbitMqDeclarationError, RabbitMqInvalidOptionError } from './errors.js'

/**
 * What the publisher and consumer need of a connection: channels. Both an amqplib `ChannelModel` and a
 * recovering connection (`connect(url, { recovery: true })`, which reconnects by itself) fit.
 */
export type RabbitMqConnection = Pick<ChannelModel, 'createChannel' | 'createConfirmChannel'>

/** How an exchange spreads messages: by routing key pattern (`topic`) or to every bound queue (`fanout`). */
export type ExchangeKind = 'topic' | 'fanout'

/** The exchange where messages of a consumer queue go once they are dead-lettered. */
export function deadLetterExchangeName(queue: string): string {
  return `${queue}.dlx`
}

/** The queue that keeps the dead letters of a consumer queue (bound to its {@link deadLetterExchangeName}). */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead`
}

/**
 * Runs declarations on a channel of their own: a refused declaration closes its channel (AMQP), and must
 * not take the caller's channel with it. @internal
 */
export async function withDeclarationChannel<T>(
  connection: RabbitMqConnection,
  entity: string,
  fn: (channel: Channel) => Promise<T>,
): Promise<T> {
  const channel = await connection.createChannel()
  let closed = false
  channel.on('error', () => undefined)
  channel.on('close', () => {
    closed = true
  })
  try {
    return await fn(channel)
  } catch (error) {
    throw new RabbitMqDeclarationError(entity, { cause: error })
  } finally {
    if (!closed) await channel.close().catch(() => undefined)
  }
}

/** Options of {@link declareExchange}. */
export type DeclareExchangeOptions = Readonly<{
  connection: RabbitMqConnection
  exchange: string
  /** Default `topic`. */
  kind?: ExchangeKind
}>

/**
 * Declares a durable exchange; does nothing when it exists with the same settings. One of the same name
 * with other settings is a `RabbitMqDeclarationError` (the broker's `PRECONDITION_FAILED` in `cause`).
 */
export async function declareExchange(options: DeclareExchangeOptions): Promise<void> {
  const kind = checkKind(options.kind)
  const name = checkName('exchange', options.exchange)
  await withDeclarationChannel(options.connection, `${kind} exchange "${name}"`, async (channel) => {
    await channel.assertExchange(name, kind, { durable: true, autoDelete: false })
  })
}

/** Options of {@link declareConsumerQueue}. */
export type DeclareConsumerQueueOptions = Readonly<{
  connection: RabbitMqConnection
  /** The consumer's queue (a durable quorum queue). */
  queue: string
  /** The exchange it reads from; declared too (durable), with `exchangeKind`. */
  exchange: string
  /** Default `topic`. */
  exchangeKind?: ExchangeKind
  /**
   * Binding patterns on a topic exchange (`account.*`, `#`); default `['#']` (everything). A fanout
   * exchange ignores them and binds once.
   */
  bindings?: readonly string[]
  /**
   * The broker's own backstop: after this many deliveries a message is dead-lettered by RabbitMQ
   * (`x-delivery-limit`) even if no consumer ever finished handling it (a handler that crashes its
   * process). The consumer's `maxAttempts` should be lower; default 20.
   */
  deliveryLimit?: number
}>

/** Names of what {@link declareConsumerQueue} declared. */
export type ConsumerQueueTopology = Readonly<{ queue: string; deadLetterExchange: string; deadLetterQueue: string }>

/**
 * Declares a consumer's topology, idempotently: the source exchange, a durable quorum queue bound to it,
 * and its dead-letter exchange (fanout) and queue. The queue names the dead-letter exchange in
 * `x-dead-letter-exchange`, so a message the broker gives up on (`deliveryLimit`, or a reject without
 * requeue) lands in the dead-letter queue, where the consumer also puts messages it gives up on, with
 * the reason in the `annals-dead-letter-*` headers. Declaring again with the same settings changes
 * nothing; with other queue arguments it is a `RabbitMqDeclarationError`.
 */
export async function declareConsumerQueue(options: DeclareConsumerQueueOptions): Promise<ConsumerQueueTopology> {
  const queue = checkName('queue', options.queue)
  const exchange = checkName('exchange', options.exchange)
  const kind = checkKind(options.exchangeKind)
  const deliveryLimit = options.deliveryLimit ?? 20
  if (!Number.isInteger(deliveryLimit) || deliveryLimit < 1) {
    throw new RabbitMqInvalidOptionError('deliveryLimit', 'must be an integer >= 1')
  }
  const bindings = kind === 'fanout' ? [''] : [...(options.bindings ?? ['#'])]
  if (bindings.length === 0) throw new RabbitMqInvalidOptionError('bindings', 'must list at least one pattern')
  const topology = {
    queue,
    deadLetterExchange: deadLetterExchangeName(queue),
    deadLetterQueue: deadLetterQueueName(queue),
  }
  await withDeclarationChannel(options.connection, `the topology of queue "${queue}"`, async (channel) => {
    await channel.assertExchange(exchange, kind, { durable: true, autoDelete: false })
    await channel.assertExchange(topology.deadLetterExchange, 'fanout', { durable: true, autoDelete: false })
    await channel.assertQueue(topology.deadLetterQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } })
    await channel.bindQueue(topology.deadLetterQueue, topology.deadLetterExchange, '')
    await channel.assertQueue(queue, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-dead-letter-exchange': topology.deadLetterExchange,
        'x-delivery-limit': deliveryLimit,
      },
    })
    for (const pattern of bindings) await channel.bindQueue(queue, exchange, pattern)
  })
  return topology
}

/** Deletes a consumer queue, its dead-letter queue and exchange (for tests and tear-down). */
export async function deleteConsumerQueue(connection: RabbitMqConnection, queue: string): Promise<void> {
  await withDeclarationChannel(connection, `the deletion of queue "${queue}"`, async (channel) => {
    await channel.deleteQueue(queue)
    await channel.deleteQueue(deadLetterQueueName(queue))
    await channel.deleteExchange(deadLetterExchangeName(queue))
  })
}

function checkKind(kind: ExchangeKind | undefined): ExchangeKind {
  const value = kind ?? 'topic'
  if (value !== 'topic' && value !== 'fanout')
    throw new RabbitMqInvalidOptionError('kind', "must be 'topic' or 'fanout'")
  return value
}

/** AMQP short strings: at most 255 bytes; `amq.` is reserved for the broker. @internal */
export function checkName(option: string, name: string): string {
  if (typeof name !== 'string' || name === '' || Buffer.byteLength(name) > 255) {
    throw new RabbitMqInvalidOptionError(option, 'must be a non-empty name of at most 255 bytes')
  }
  if (name.startsWith('amq.')) throw new RabbitMqInvalidOptionError(option, 'names starting with "amq." are reserved')
  return name
}
