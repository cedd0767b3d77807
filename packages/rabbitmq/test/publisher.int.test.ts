import { randomUUID } from 'node:crypto'
import type { EventPublisher, OutboundMessage } from '@annals/core'
import { createOutboxRelay, isPublishFailedError } from '@annals/outbox'
import { describe, expect, it } from 'vitest'
import { RabbitMqErrorCodes } from '../src/errors.js'
import { createRabbitMqPublisher } from '../src/rabbitmq-publisher.js'
import { declareConsumerQueue, declareExchange } from '../src/topology.js'
import { drainQueue, eventStoreWithOutbox, outboxStatuses, useRabbitBed } from './helpers.js'

const bed = useRabbitBed('pub')
let schemas = 0
const nextSchema = () => `pub_${++schemas}`

function deposit(seq: number) {
  return { type: 'AccountDeposited' as const, data: { cents: 100 * seq, seq } }
}
function transfer(seq: number) {
  return { type: 'MoneyTransferred' as const, data: { cents: seq, seq } }
}

function message(seq: number, topic: string, type = 'AccountDeposited'): OutboundMessage {
  return { messageId: randomUUID(), topic, partitionKey: `k${seq}`, type, payload: { seq }, headers: {} }
}

describe('RabbitMQ publisher with the outbox relay', () => {
  it('marks a row sent only once the broker confirmed it, and carries ids, headers and persistence', async () => {
    const schema = nextSchema()
    const exchange = bed.name('accounts')
    const store = await eventStoreWithOutbox(bed, schema, exchange)
    const { queue } = await declareConsumerQueue({
      connection: bed.connection,
      queue: bed.name('all'),
      exchange,
      bindings: ['#'],
    })
    const appended = []
    for (let i = 1; i <= 20; i++) {
      const metadata = {
        correlationId: `corr-${i}`,
        causationId: `cause-${i}`,
        traceparent: `00-${'a'.repeat(31)}${i % 10}-${'b'.repeat(16)}-01`,
      }
      const { events } = await store.appendToStream(`acct-${i % 4}`, [{ ...deposit(i), metadata }])
      appended.push(...events)
    }
    const rabbit = createRabbitMqPublisher({ connection: bed.connection })
    const seenAtConfirm: { pending: number; inQueue: number }[] = []
    // Observes the moment the publisher resolves (every confirm in): the rows are still pending and the
    // messages are already in the queue.
    const observed: EventPublisher = {
      async publish(messages) {
        await rabbit.publish(messages)
        const ch = await bed.channel()
        const { messageCount } = await ch.checkQueue(queue)
        seenAtConfirm.push({ pending: (await outboxStatuses(bed, schema)).pending ?? 0, inQueue: messageCount })
      },
    }
    const relay = createOutboxRelay({ pool: bed.db.pool, schema, publisher: observed, batchSize: 8 })
    while ((await relay.runOnce()).claimed > 0) {}
    await rabbit.close?.()
    expect(seenAtConfirm).toEqual([
      { pending: 20, inQueue: 8 },
      { pending: 12, inQueue: 16 },
      { pending: 4, inQueue: 20 },
    ])
    expect(await outboxStatuses(bed, schema)).toEqual({ sent: 20 })
    const got = await drainQueue(await bed.channel(), queue)
    expect(got.map((m) => m.properties.messageId)).toEqual(appended.map((e) => e.eventId))
    const first = got[0]
    expect(first?.fields.routingKey).toBe('account.deposited')
    expect(first?.properties).toMatchObject({
      deliveryMode: 2,
      type: 'AccountDeposited',
      correlationId: 'corr-1',
      contentType: 'application/json',
    })
    expect(first?.properties.headers).toMatchObject({
      'correlation-id': 'corr-1',
      'causation-id': 'cause-1',
      traceparent: `00-${'a'.repeat(31)}1-${'b'.repeat(16)}-01`,
      'annals-topic': exchange,
      'annals-partition-key': 'acct-1',
    })
    expect(JSON.parse(first?.content.toString() ?? '')).toEqual({ cents: 100, seq: 1 })
  })

  it('a message no queue is bound for comes back (mandatory): the row stays pending until a binding exists', async () => {
    const schema = nextSchema()
    const exchange = bed.name('unbound')
    const store = await eventStoreWithOutbox(bed, schema, exchange)
    await store.appendToStream('acct-1', [deposit(1)])
    await store.appendToStream('acct-2', [transfer(2)])
    const { queue } = await declareConsumerQueue({
      connection: bed.connection,
      queue: bed.name('transfers-only'),
      exchange,
      bindings: ['money.#'],
    })
    const publisher = createRabbitMqPublisher({ connection: bed.connection })
    const relay = createOutboxRelay({
      pool: bed.db.pool,
      schema,
      publisher,
      backoff: { initialDelayMs: 0, maxDelayMs: 0 },
    })
    const first = await relay.runOnce()
    expect(first).toMatchObject({ claimed: 2, published: 1, failed: 1 })
    const { rows } = await bed.db.pool.query(
      `SELECT type, status, attempts, last_error FROM ${schema}.outbox ORDER BY id`,
    )
    expect(rows[0]).toMatchObject({ type: 'AccountDeposited', status: 'pending', attempts: 1 })
    expect(rows[0]?.last_error).toContain('returned')
    expect(rows[1]).toMatchObject({ type: 'MoneyTransferred', status: 'sent' })
    // Direct: the typed cause names the exchange and routing key.
    const err = await publisher.publish([message(1, exchange)]).catch((e: unknown) => e)
    expect(isPublishFailedError(err)).toBe(true)
    expect((err as { cause?: { code?: string; routingKey?: string } }).cause).toMatchObject({
      code: RabbitMqErrorCodes.UNROUTABLE,
      routingKey: 'account.deposited',
    })
    await (await bed.channel()).bindQueue(queue, exchange, 'account.*')
    await bed.db.pool.query(`UPDATE ${schema}.outbox SET next_attempt_at = now()`)
    expect(await relay.runOnce()).toMatchObject({ published: 1, failed: 0 })
    expect(await outboxStatuses(bed, schema)).toEqual({ sent: 2 })
    const got = await drainQueue(await bed.channel(), queue)
    expect(got.map((m) => m.properties.type)).toEqual(['MoneyTransferred', 'AccountDeposited'])
    await publisher.close?.()
  })

  it('a nack names exactly the refused messages; the confirmed ones of the batch are marked sent', async () => {
    const schema = nextSchema()
    const exchange = bed.name('full')
    const store = await eventStoreWithOutbox(bed, schema, exchange)
    await declareExchange({ connection: bed.connection, exchange })
    // A queue that refuses publishes once it holds 2 messages: RabbitMQ nacks them (a real basic.nack).
    const queue = bed.name('tiny')
    const ch = await bed.channel()
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } })
    await ch.bindQueue(queue, exchange, '#')
    for (let i = 1; i <= 5; i++) await store.appendToStream(`acct-${i}`, [deposit(i)])
    const publisher = createRabbitMqPublisher({ connection: bed.connection })
    const direct = await publisher
      .publish([message(1, exchange), message(2, exchange), message(3, exchange)])
      .catch((e: unknown) => e)
    expect(direct).toMatchObject({ code: 'ANNALS_OUTBOX_ERR_PUBLISH_FAILED' })
    expect((direct as { messageIds: string[] }).messageIds).toHaveLength(1)
    expect((direct as { cause?: { code?: string } }).cause?.code).toBe(RabbitMqErrorCodes.NACKED)
    await ch.purgeQueue(queue)
    const relay = createOutboxRelay({
      pool: bed.db.pool,
      schema,
      publisher,
      backoff: { initialDelayMs: 0, maxDelayMs: 0 },
    })
    expect(await relay.runOnce()).toMatchObject({ claimed: 5, published: 2, failed: 3 })
    expect(await outboxStatuses(bed, schema)).toEqual({ sent: 2, pending: 3 })
    const { rows } = await bed.db.pool.query(`SELECT status, last_error FROM ${schema}.outbox WHERE status = 'pending'`)
    for (const r of rows) expect(r.last_error).toContain('nacked')
    await publisher.close?.()
  })
})

describe('routing', () => {
  it('a topic binding on account.* gets deposits and withdrawals, not transfers; money.# gets the transfers', async () => {
    const schema = nextSchema()
    const exchange = bed.name('routing')
    const store = await eventStoreWithOutbox(bed, schema, exchange)
    const accounts = await declareConsumerQueue({
      connection: bed.connection,
      queue: bed.name('accounts'),
      exchange,
      bindings: ['account.*'],
    })
    const money = await declareConsumerQueue({
      connection: bed.connection,
      queue: bed.name('money'),
      exchange,
      bindings: ['money.#'],
    })
    await store.appendToStream('a', [deposit(1), transfer(2), { type: 'AccountWithdrawn', data: { cents: 1, seq: 3 } }])
    await store.appendToStream('b', [transfer(4), deposit(5)])
    const publisher = createRabbitMqPublisher({ connection: bed.connection })
    const relay = createOutboxRelay({ pool: bed.db.pool, schema, publisher })
    while ((await relay.runOnce()).claimed > 0) {}
    const ch = await bed.channel()
    const seqs = async (q: string) =>
      (await drainQueue(ch, q)).map(
        (m) => `${m.fields.routingKey}/${(JSON.parse(m.content.toString()) as { seq: number }).seq}`,
      )
    expect(await seqs(accounts.queue)).toEqual(['account.deposited/1', 'account.withdrawn/3', 'account.deposited/5'])
    expect(await seqs(money.queue)).toEqual(['money.transferred/2', 'money.transferred/4'])
    await publisher.close?.()
  })

  it('a fanout exchange gives every bound queue every message', async () => {
    const schema = nextSchema()
    const exchange = bed.name('fanout')
    const store = await eventStoreWithOutbox(bed, schema, exchange)
    const queues = []
    for (const n of ['one', 'two']) {
      queues.push(
        (
          await declareConsumerQueue({
            connection: bed.connection,
            queue: bed.name(n),
            exchange,
            exchangeKind: 'fanout',
          })
        ).queue,
      )
    }
    await store.appendToStream('a', [deposit(1), transfer(2), deposit(3)])
    const publisher = createRabbitMqPublisher({ connection: bed.connection, exchangeKind: 'fanout' })
    const relay = createOutboxRelay({ pool: bed.db.pool, schema, publisher })
    while ((await relay.runOnce()).claimed > 0) {}
    const ch = await bed.channel()
    for (const q of queues) {
      expect((await drainQueue(ch, q)).map((m) => m.properties.type)).toEqual([
        'AccountDeposited',
        'MoneyTransferred',
        'AccountDeposited',
      ])
    }
    await publisher.close?.()
  })
})

describe('declarations', () => {
  it('are idempotent, and a clash with existing settings is a typed error that leaves the connection usable', async () => {
    const exchange = bed.name('decl')
    const queue = bed.name('decl-q')
    const first = await declareConsumerQueue({ connection: bed.connection, queue, exchange, bindings: ['a.*'] })
    const again = await declareConsumerQueue({ connection: bed.connection, queue, exchange, bindings: ['a.*'] })
    expect(again).toEqual(first)
    expect(first).toEqual({ queue, deadLetterExchange: `${queue}.dlx`, deadLetterQueue: `${queue}.dead` })
    await expect(
      declareConsumerQueue({ connection: bed.connection, queue, exchange, deliveryLimit: 3 }),
    ).rejects.toMatchObject({ code: RabbitMqErrorCodes.DECLARATION })
    await expect(declareExchange({ connection: bed.connection, exchange, kind: 'fanout' })).rejects.toMatchObject({
      code: RabbitMqErrorCodes.DECLARATION,
    })
    await expect(declareExchange({ connection: bed.connection, exchange: 'amq.mine' })).rejects.toMatchObject({
      code: RabbitMqErrorCodes.INVALID_OPTION,
    })
    const { messageCount } = await (await bed.channel()).checkQueue(queue)
    expect(messageCount).toBe(0)
  })
})
