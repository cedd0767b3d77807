import {
  type BackoffPolicy,
  type Logger,
  type Schema,
  type SchemaOutput,
  silentLogger,
  validateSchema,
  type Worker,
} from '@annals/core'
import { createWaiter, createWorkerLifecycle, integerOption, toBackoff } from '@annals/core/runtime'
import { createIdempotentHandler, type IdempotentHandlerOptions, type IdempotentOutcome } from '@annals/outbox'
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib'
import {
  errorLine,
  RabbitMqAlreadyStartedError,
  RabbitMqChannelClosedError,
  RabbitMqDeliveryLimitError,
  RabbitMqInvalidMessageError,
  RabbitMqInvalidOptionError,
  RabbitMqNoHandlerError,
} from './errors.js'
import { deliveryCount, parseDelivery, RabbitMqHeaders, type RabbitMqMessage } from './message-format.js'
import { checkName, deadLetterExchangeName, type RabbitMqConnection } from './topology.js'

/** The consumer's own Postgres transaction, in which a handler writes its effects and the inbox records the message id. */
export type InboxTransaction = Parameters<IdempotentHandlerOptions<RabbitMqMessage>['handle']>[1]

/** How one integration event type is handled: its payload schema and the handler of a valid payload. */
export type RabbitMqHandler<S extends Schema = Schema> = Readonly<{
  /** Validates the payload on receipt (a zod schema, or any Standard Schema); a failure dead-letters the message. */
  schema: S
  /** Applies the event inside `tx`; throwing rolls the transaction back and the message is retried. */
  handle(data: SchemaOutput<S>, message: RabbitMqMessage, tx: InboxTransaction): Promise<void>
}>

/**
 * Infers a handler's payload type from its schema.
 * @example defineRabbitMqHandler(z.object({ cents: z.number() }), async (data, message, tx) => { ... })
 */
export function defineRabbitMqHandler<S extends Schema>(
  schema: S,
  handle: (data: SchemaOutput<S>, message: RabbitMqMessage, tx: InboxTransaction) => Promise<void>,
): RabbitMqHandler<S> {
  return { schema, handle }
}

/** Options of {@link createRabbitMqConsumer}. */
export type RabbitMqConsumerOptions = Readonly<{
  connection: RabbitMqConnection
  /** A queue declared with `declareConsumerQueue` (its dead-letter exchange is `<queue>.dlx`). */
  queue: string
  /** One handler per event type (the message's `type` property). */
  handlers: Readonly<Record<string, RabbitMqHandler>>
  /** The idempotent inbox: each message id is recorded under `consumer` in the handler's own transaction. */
  inbox: Omit<IdempotentHandlerOptions<RabbitMqMessage>, 'handle'>
  /** Unacknowledged messages the broker may send ahead (`basic.qos`). Handled one at a time, in order. Default 10. */
  prefetch?: number
  /**
   * Deliveries of one message before it is dead-lettered (the failing handler's error as the reason);
   * a message delivered more often than this without its handler ever finishing (a process that
   * crashes on it) is dead-lettered unhandled. Default 5. Keep it below the queue's `deliveryLimit`.
   */
  maxAttempts?: number
  /** Pause before a failed message goes back to the queue. Default 100 ms doubling to 5 s. */
  retryBackoff?: BackoffPolicy
  /** A message of a type with no handler: dead-lettered (default) or acknowledged and skipped. */
  unknownTypes?: 'dead-letter' | 'ack'
  /** Default: silent. */
  logger?: Logger
  /** Stop gracefully on SIGTERM and SIGINT while running. Default false. */
  handleSignals?: boolean
  /**
   * Runs after a message's effects committed, before its acknowledgement (a seam for crash tests).
   * @internal
   */
  afterCommit?: (message: RabbitMqMessage, outcome: IdempotentOutcome) => Promise<void>
}>

/** What the consumer did with one delivery. */
export type RabbitMqDeliveryOutcome = IdempotentOutcome | 'retried' | 'dead-lettered' | 'skipped'

/** A queue consumer with manual acknowledgements, the idempotent inbox and bounded retries. */
export interface RabbitMqConsumer extends Worker {
  /** Deliveries handled so far, by outcome. */
  readonly counts: Readonly<Record<RabbitMqDeliveryOutcome, number>>
}

/**
 * Creates a consumer of one queue. Deliveries are handled one at a time in arrival order: parsed,
 * validated against their type's schema, applied through `createIdempotentHandler` (the message id is
 * recorded in the handler's transaction), and acknowledged only after that transaction committed, so a
 * crash at any point redelivers the message and the inbox turns the redelivery into a no-op. A failing
 * handler's message goes back to the queue after a backoff, up to `maxAttempts` deliveries (counted by
 * the quorum queue), then to the dead-letter exchange with the reason; so does an invalid message, at
 * once. `stop()` lets the message in hand finish, cancels the subscription and closes the channels
 * (prefetched, unstarted messages go back to the queue).
 */
export function createRabbitMqConsumer(options: RabbitMqConsumerOptions): RabbitMqConsumer {
  const queue = checkName('queue', options.queue)
  const prefetch = positive('prefetch', options.prefetch, 10)
  const maxAttempts = positive('maxAttempts', options.maxAttempts, 5)
  const backoff = toBackoff(options.retryBackoff, { initialDelayMs: 100, maxDelayMs: 5_000 })
  const logger = options.logger ?? silentLogger
  const unknownTypes = options.unknownTypes ?? 'dead-letter'
  if (unknownTypes !== 'dead-letter' && unknownTypes !== 'ack') {
    throw new RabbitMqInvalidOptionError('unknownTypes', "must be 'dead-letter' or 'ack'")
  }
  const deadLetterExchange = deadLetterExchangeName(queue)
  const counts: Record<RabbitMqDeliveryOutcome, number> = {
    processed: 0,
    duplicate: 0,
    retried: 0,
    'dead-lettered': 0,
    skipped: 0,
  }
  let current: { message: RabbitMqMessage; data: unknown; handler: RabbitMqHandler } | undefined
  const apply = createIdempotentHandler<RabbitMqMessage>({
    ...options.inbox,
    handle: async (message, tx) => {
      if (current === undefined || current.message !== message) throw new Error('no delivery in hand')
      await current.handler.handle(current.data, message, tx)
    },
  })
  const waiter = createWaiter()
  let session: { channel: Channel; deadLetters: ConfirmChannel; tag: string; closed: Promise<void> } | undefined
  let tail: Promise<void> = Promise.resolve()
  let running: Promise<void> | undefined

  /** Publishes the message to the dead-letter exchange with the reason, waits for the confirm, then acks it. */
  async function deadLetter(
    channel: Channel,
    deadLetters: ConfirmChannel,
    delivery: ConsumeMessage,
    reason: unknown,
  ): Promise<void> {
    const code = (reason as { code?: unknown } | null)?.code
    const headers = {
      ...(delivery.properties.headers ?? {}),
      [RabbitMqHeaders.deadReason]: errorLine(reason),
      [RabbitMqHeaders.deadAttempts]: deliveryCount(delivery) + 1,
      [RabbitMqHeaders.deadQueue]: queue,
      ...(typeof code === 'string' ? { [RabbitMqHeaders.deadCode]: code } : {}),
    }
    delete (headers as Record<string, unknown>)['x-delivery-count']
    await new Promise<void>((resolve, reject) => {
      try {
        deadLetters.publish(
          deadLetterExchange,
          delivery.fields.routingKey,
          delivery.content,
          { ...stripUndefined(delivery.properties), headers, persistent: true },
          (error) => (error == null ? resolve() : reject(error)),
        )
      } catch (error) {
        reject(error)
      }
    })
    // A crash here leaves the original unacknowledged as well: the dead-letter queue may then hold it
    // twice, never zero times.
    channel.ack(delivery)
    counts['dead-lettered'] += 1
    logger.error(
      { queue, messageId: delivery.properties.messageId, type: delivery.properties.type, reason: errorLine(reason) },
      'message dead-lettered',
    )
  }

  async function handleDelivery(channel: Channel, deadLetters: ConfirmChannel, delivery: ConsumeMessage) {
    let message: RabbitMqMessage
    try {
      message = parseDelivery(delivery)
    } catch (error) {
      return deadLetter(channel, deadLetters, delivery, error)
    }
    const where = { queue, messageId: message.messageId, type: message.type, attempt: message.attempt }
    if (message.attempt > maxAttempts) {
      const error = new RabbitMqDeliveryLimitError(
        message.attempt,
        `delivered ${message.attempt} times (maxAttempts ${maxAttempts}) without its handler finishing`,
      )
      return deadLetter(channel, deadLetters, delivery, error)
    }
    const handler = options.handlers[message.type]
    if (handler === undefined) {
      if (unknownTypes === 'ack') {
        channel.ack(delivery)
        counts.skipped += 1
        return
      }
      return deadLetter(channel, deadLetters, delivery, new RabbitMqNoHandlerError(message.type))
    }
    const valid = validateSchema(handler.schema, message.payload, `payload of ${message.type}`)
    if (!valid.success) {
      const issues = valid.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
      const error = new RabbitMqInvalidMessageError(
        message.messageId,
        `payload of ${message.type} is invalid: ${issues}`,
      )
      return deadLetter(channel, deadLetters, delivery, error)
    }
    let outcome: IdempotentOutcome
    try {
      current = { message, data: valid.value, handler }
      outcome = await apply(message)
    } catch (error) {
      if (message.attempt >= maxAttempts) {
        const limit = new RabbitMqDeliveryLimitError(
          message.attempt,
          `handler failed ${message.attempt} times (maxAttempts ${maxAttempts}): ${errorLine(error)}`,
          { cause: error },
        )
        return deadLetter(channel, deadLetters, delivery, limit)
      }
      logger.warn({ ...where, err: error }, 'handler failed; the message goes back to the queue')
      await waiter.wait(backoff(message.attempt))
      channel.nack(delivery, false, true)
      counts.retried += 1
      return
    } finally {
      current = undefined
    }
    await options.afterCommit?.(message, outcome)
    channel.ack(delivery)
    counts[outcome] += 1
  }

  async function open(): Promise<void> {
    let channel: Channel | undefined
    let deadLetters: ConfirmChannel | undefined
    try {
      channel = await options.connection.createChannel()
      channel.on('error', (error: unknown) =>
        logger.warn({ queue, err: error }, 'RabbitMQ closed the consumer channel'),
      )
      deadLetters = await options.connection.createConfirmChannel()
      deadLetters.on('error', (error: unknown) =>
        logger.warn({ queue, err: error }, 'RabbitMQ closed the dead-letter channel'),
      )
      const ch = channel
      const dl = deadLetters
      // Deliveries can arrive before consume() resolves, so they check this flag, not the session.
      let channelClosed = false
      const closed = new Promise<void>((resolve) => {
        ch.once('close', () => {
          channelClosed = true
          resolve()
        })
        dl.once('close', () => resolve())
      })
      await ch.prefetch(prefetch)
      const { consumerTag } = await ch.consume(
        queue,
        (delivery) => {
          // null: the broker cancelled the subscription (the queue was deleted).
          if (delivery === null) {
            void ch.close().catch(() => undefined)
            return
          }
          tail = tail.then(async () => {
            // A message that arrived behind the one in hand when stop() came stays unacknowledged and
            // goes back to the queue when the channel closes.
            if (lifecycle.stopping || channelClosed) return
            try {
              await handleDelivery(ch, dl, delivery)
            } catch (error) {
              // The channel went away under the message (acks and dead-letter publishes fail then): the
              // broker redelivers it.
              logger.warn({ queue, err: error }, 'delivery abandoned')
              try {
                ch.nack(delivery, false, true)
              } catch {
                // Closed already: the broker puts it back by itself.
              }
            }
          })
        },
        { noAck: false },
      )
      session = { channel: ch, deadLetters: dl, tag: consumerTag, closed }
    } catch (error) {
      await channel?.close().catch(() => undefined)
      await deadLetters?.close().catch(() => undefined)
      throw new RabbitMqChannelClosedError(`Could not consume from queue "${queue}": ${errorLine(error)}`, {
        cause: error,
      })
    }
  }

  /** Keeps a subscription open until stop(): reopens it after the channel or connection went away. */
  async function supervise(): Promise<void> {
    let failures = 0
    while (!lifecycle.stopping) {
      if (session === undefined) {
        try {
          await open()
          failures = 0
        } catch (error) {
          failures += 1
          logger.error({ queue, err: error }, 'consumer could not subscribe; retrying')
          await waiter.wait(backoff(failures))
          continue
        }
      }
      const s = session
      if (s === undefined) continue
      await Promise.race([s.closed, stopRequested])
      if (lifecycle.stopping) break
      logger.warn({ queue }, 'consumer channel closed; resubscribing')
      session = undefined
      await closeSession(s)
    }
  }

  let requestStop: () => void = () => undefined
  let stopRequested: Promise<void> = Promise.resolve()

  async function closeSession(s: NonNullable<typeof session>): Promise<void> {
    await s.channel.cancel(s.tag).catch(() => undefined)
    await tail
    await s.channel.close().catch(() => undefined)
    await s.deadLetters.close().catch(() => undefined)
  }

  const lifecycle = createWorkerLifecycle({
    alreadyStarted: () => new RabbitMqAlreadyStartedError(`The consumer of queue "${queue}"`),
    handleSignals: options.handleSignals ?? false,
    async onStart() {
      stopRequested = new Promise<void>((resolve) => {
        requestStop = resolve
      })
      await open()
      running = supervise()
    },
    async onStop() {
      requestStop()
      waiter.wake()
      await running
      running = undefined
      const s = session
      session = undefined
      if (s !== undefined) await closeSession(s)
    },
  })

  return {
    counts,
    start: () => lifecycle.start(),
    stop: () => lifecycle.stop(),
    whenStopped: () => lifecycle.whenStopped(),
  }
}

function positive(option: string, value: number | undefined, fallback: number): number {
  return integerOption(option, value, fallback, 1, (name, reason) => new RabbitMqInvalidOptionError(name, reason))
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
