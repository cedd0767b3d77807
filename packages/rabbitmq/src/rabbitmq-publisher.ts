import { type EventPublisher, type Logger, type OutboundMessage, payloadText, silentLogger } from '@annals/core'
import { PublishFailedError } from '@annals/outbox'
import type { ConfirmChannel, Message } from 'amqplib'
import {
  errorLine,
  RabbitMqChannelClosedError,
  RabbitMqInvalidOptionError,
  RabbitMqNackedError,
  RabbitMqUnroutableError,
} from './errors.js'
import { publishOptions } from './message-format.js'
import { routingKeyOf } from './routing-key.js'
import { checkName, type ExchangeKind, type RabbitMqConnection, withDeclarationChannel } from './topology.js'

/** Options of {@link createRabbitMqPublisher}. */
export type RabbitMqPublisherOptions = Readonly<{
  /** Its channels are opened lazily and again after they close; the connection itself is the caller's. */
  connection: RabbitMqConnection
  /** The exchange of a topic's messages: a fixed name, or a function of the topic. Default: the topic's name. */
  exchange?: string | ((topic: string) => string)
  /** `topic` (default): routed by routing key; `fanout`: every bound queue gets every message. */
  exchangeKind?: ExchangeKind
  /** The routing key of a message. Default {@link routingKeyOf} its type (`AccountDeposited` → `account.deposited`). */
  routingKey?: (message: OutboundMessage) => string
  /**
   * Publish with the `mandatory` flag (default true): a message no queue is bound for comes back
   * (`basic.return`) and fails the batch, so the relay retries it and finally dead-letters its row
   * instead of the broker dropping it silently. `false` lets RabbitMQ drop unroutable messages (an
   * exchange nobody listens to yet, or one with an alternate exchange that catches them).
   */
  mandatory?: boolean
  /** Declare each exchange (durable, `exchangeKind`) before the first publish to it. Default true. */
  declare?: boolean
  /** Default: silent. */
  logger?: Logger
}>

type Outcome = { nacked: boolean; closed: unknown }

type OpenChannel = {
  channel: ConfirmChannel
  closed: boolean
  closeReason: unknown
  /** Returned messages by message id, until the batch that published them collects them. */
  returns: Map<string, Message>
}

/**
 * An {@link EventPublisher} for the outbox relay that publishes to RabbitMQ with publisher confirms: a
 * batch resolves only once the broker confirmed every message (persistent, so a confirm means it is on
 * disk in every queue it was routed to). A nack, a return of a mandatory message or a channel closing
 * first rejects with the outbox's `PublishFailedError` naming exactly those messages (the relay marks
 * the others sent and retries these), its `cause` a `RabbitMqNackedError`, `RabbitMqUnroutableError` or
 * `RabbitMqChannelClosedError`.
 * @example createOutboxRelay({ pool, publisher: createRabbitMqPublisher({ connection: await amqp.connect(url) }) })
 */
export function createRabbitMqPublisher(options: RabbitMqPublisherOptions): EventPublisher {
  const kind = options.exchangeKind ?? 'topic'
  if (kind !== 'topic' && kind !== 'fanout') {
    throw new RabbitMqInvalidOptionError('exchangeKind', "must be 'topic' or 'fanout'")
  }
  const exchangeOf =
    typeof options.exchange === 'function'
      ? options.exchange
      : options.exchange !== undefined
        ? (() => {
            const name = checkName('exchange', options.exchange as string)
            return () => name
          })()
        : (topic: string) => topic
  const routingKey = options.routingKey ?? ((m: OutboundMessage) => routingKeyOf(m.type))
  const mandatory = options.mandatory ?? true
  const declare = options.declare ?? true
  const logger = options.logger ?? silentLogger
  const declared = new Set<string>()
  let open: Promise<OpenChannel> | undefined

  function channel(): Promise<OpenChannel> {
    open ??= (async () => {
      const confirm = await options.connection.createConfirmChannel()
      const state: OpenChannel = { channel: confirm, closed: false, closeReason: undefined, returns: new Map() }
      confirm.on('error', (error: unknown) => {
        state.closeReason = error
        logger.warn({ err: error }, 'RabbitMQ closed the publisher channel')
      })
      confirm.on('close', () => {
        state.closed = true
        open = undefined
      })
      confirm.on('return', (message: Message) => {
        const id = message.properties.messageId
        if (typeof id === 'string') state.returns.set(id, message)
      })
      return state
    })()
    // A failed open is not cached: the next batch tries again.
    open.catch(() => {
      open = undefined
    })
    return open
  }

  async function ensureExchange(name: string): Promise<void> {
    if (!declare || declared.has(name)) return
    await withDeclarationChannel(options.connection, `${kind} exchange "${name}"`, async (ch) => {
      await ch.assertExchange(name, kind, { durable: true, autoDelete: false })
    })
    declared.add(name)
  }

  return {
    async publish(messages: readonly OutboundMessage[]): Promise<void> {
      if (messages.length === 0) return
      const targets = messages.map((m) => ({ m, exchange: exchangeOf(m.topic), key: routingKey(m) }))
      for (const exchange of new Set(targets.map((t) => t.exchange))) await ensureExchange(exchange)
      const state = await channel()
      const outcomes: Promise<Outcome>[] = []
      for (const { m, exchange, key } of targets) {
        if (state.closed) {
          outcomes.push(Promise.resolve({ nacked: false, closed: state.closeReason ?? 'channel closed' }))
          continue
        }
        let writable = true
        outcomes.push(
          new Promise<Outcome>((resolve) => {
            try {
              writable = state.channel.publish(
                exchange,
                key,
                Buffer.from(payloadText(m)),
                publishOptions(m, mandatory),
                (error) => {
                  if (error == null) resolve({ nacked: false, closed: undefined })
                  // amqplib answers a nack and a closed channel through the same callback.
                  else if (state.closed) resolve({ nacked: false, closed: state.closeReason ?? error })
                  else resolve({ nacked: true, closed: undefined })
                },
              )
            } catch (error) {
              // A closed channel throws synchronously.
              resolve({ nacked: false, closed: error })
            }
          }),
        )
        // amqplib buffers whatever it is given: waiting for its buffer to drain keeps memory bounded.
        if (!writable) await drained(state)
      }
      const results = await Promise.all(outcomes)
      const nacked: string[] = []
      const closed: string[] = []
      const returned: string[] = []
      let firstReturn: { exchange: string; key: string; text: string } | undefined
      let closeCause: unknown
      results.forEach((r, i) => {
        const target = targets[i]
        if (target === undefined) return
        const id = target.m.messageId
        const back = state.returns.get(id)
        state.returns.delete(id)
        if (back !== undefined) {
          returned.push(id)
          firstReturn ??= { exchange: target.exchange, key: target.key, text: replyText(back) }
        } else if (r.nacked) nacked.push(id)
        else if (r.closed !== undefined) {
          closed.push(id)
          closeCause ??= r.closed
        }
      })
      if (nacked.length + closed.length + returned.length === 0) return
      const cause =
        returned.length > 0 && firstReturn
          ? new RabbitMqUnroutableError(returned, firstReturn.exchange, firstReturn.key, firstReturn.text)
          : nacked.length > 0
            ? new RabbitMqNackedError(nacked)
            : new RabbitMqChannelClosedError(
                `The channel closed before the broker confirmed: ${errorLine(closeCause)}`,
                {
                  cause: closeCause,
                },
              )
      const failed = [...returned, ...nacked, ...closed]
      throw new PublishFailedError(
        failed,
        `RabbitMQ did not take ${failed.length} of ${messages.length} messages (${returned.length} returned unroutable, ${nacked.length} nacked, ${closed.length} unconfirmed on a closed channel)`,
        { cause },
      )
    },
    async close() {
      const current = open
      open = undefined
      if (current === undefined) return
      const state = await current.catch(() => undefined)
      if (state && !state.closed) await state.channel.close().catch(() => undefined)
    },
  }
}

/** Resolves when the channel can take more writes, or has closed. */
function drained(state: OpenChannel): Promise<void> {
  return new Promise((resolve) => {
    if (state.closed) return resolve()
    const done = () => {
      state.channel.removeListener('drain', done)
      state.channel.removeListener('close', done)
      resolve()
    }
    state.channel.once('drain', done)
    state.channel.once('close', done)
  })
}

/** The broker's reason for a return (`NO_ROUTE`); amqplib passes it in the fields without typing it. */
function replyText(message: Message): string {
  const text = (message.fields as { replyText?: unknown }).replyText
  return typeof text === 'string' ? text : 'NO_ROUTE'
}
