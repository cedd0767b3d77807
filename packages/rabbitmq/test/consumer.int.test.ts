import { randomUUID } from 'node:crypto'
import type { OutboundMessage } from '@annals/core'
import { waitFor } from '@annals/test-support'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { RabbitMqErrorCodes } from '../src/errors.js'
import { RabbitMqHeaders } from '../src/message-format.js'
import {
  createRabbitMqConsumer,
  defineRabbitMqHandler,
  type RabbitMqConsumer,
  type RabbitMqConsumerOptions,
} from '../src/rabbitmq-consumer.js'
import { createRabbitMqPublisher } from '../src/rabbitmq-publisher.js'
import { declareConsumerQueue } from '../src/topology.js'
import { appliedCounts, consumerSchema, drainQueue, type RabbitBed, useRabbitBed } from './helpers.js'

const bed = useRabbitBed('consume')
let schemas = 0
const running: RabbitMqConsumer[] = []
const track = (c: RabbitMqConsumer) => {
  running.push(c)
  return c
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()))
})

const Deposit = z.object({ cents: z.number().int(), seq: z.number().int() })

/** A schema for the inbox and effects, a queue bound to a fresh exchange, and a publisher to it. */
async function fresh(bed: RabbitBed) {
  const schema = `consume_${++schemas}`
  await consumerSchema(bed, schema)
  const exchange = bed.name('x')
  const topology = await declareConsumerQueue({ connection: bed.connection, queue: bed.name('q'), exchange })
  const publisher = createRabbitMqPublisher({ connection: bed.connection })
  const publish = (messages: OutboundMessage[]) => publisher.publish(messages)
  const message = (
    seq: number,
    payload: unknown = { cents: seq, seq },
    type = 'AccountDeposited',
  ): OutboundMessage => ({
    messageId: randomUUID(),
    topic: exchange,
    partitionKey: 'acct-1',
    type,
    payload,
    headers: { 'correlation-id': `c-${seq}` },
  })
  const consumer = (overrides: Partial<RabbitMqConsumerOptions> = {}) =>
    track(
      createRabbitMqConsumer({
        connection: bed.connection,
        queue: topology.queue,
        inbox: { pool: bed.db.pool, schema, consumer: 'test' },
        retryBackoff: { initialDelayMs: 10, maxDelayMs: 20 },
        handlers: {
          AccountDeposited: defineRabbitMqHandler(Deposit, async (data, m, tx) => {
            await tx.query(`INSERT INTO ${schema}.applied (message_id, seq) VALUES ($1, $2)`, [m.messageId, data.seq])
          }),
        },
        ...overrides,
      }),
    )
  return { schema, exchange, topology, publisher, publish, message, consumer }
}

describe('RabbitMQ consumer', () => {
  it('applies each message once in its own transaction and acks it; a redelivered id is a duplicate', async () => {
    const t = await fresh(bed)
    const messages = [1, 2, 3, 4, 5].map((i) => t.message(i))
    await t.publish(messages)
    const c = t.consumer()
    await c.start()
    await waitFor('the consumer', async () => (await appliedCounts(bed, t.schema)).size === 5)
    // The same ids again (a relay that crashed between confirm and mark publishes them twice).
    await t.publish(messages.slice(0, 2))
    await waitFor('the consumer', async () => c.counts.duplicate === 2)
    await c.stop()
    expect([...(await appliedCounts(bed, t.schema)).values()]).toEqual([1, 1, 1, 1, 1])
    expect(c.counts).toMatchObject({ processed: 5, duplicate: 2, retried: 0, 'dead-lettered': 0 })
    const { messageCount } = await (await bed.channel()).checkQueue(t.topology.queue)
    expect(messageCount).toBe(0)
    await t.publisher.close?.()
  })

  it('a poison message is retried maxAttempts times, then dead-lettered with the reason, while the others flow', async () => {
    const t = await fresh(bed)
    const messages = [1, 2, 3, 4, 5, 6].map((i) => t.message(i))
    const poison = messages[2]?.messageId
    let poisonCalls = 0
    const c = t.consumer({
      maxAttempts: 3,
      handlers: {
        AccountDeposited: defineRabbitMqHandler(Deposit, async (data, m, tx) => {
          if (m.messageId === poison) {
            poisonCalls += 1
            // Written, then rolled back with the failure: a failed attempt leaves no trace.
            await tx.query(`INSERT INTO ${t.schema}.applied (message_id, seq) VALUES ($1, $2)`, [m.messageId, -1])
            throw new Error('cannot apply this one')
          }
          await tx.query(`INSERT INTO ${t.schema}.applied (message_id, seq) VALUES ($1, $2)`, [m.messageId, data.seq])
        }),
      },
    })
    await c.start()
    await t.publish(messages)
    await waitFor(
      'the consumer',
      async () => (await appliedCounts(bed, t.schema)).size === 5 && c.counts['dead-lettered'] === 1,
    )
    await c.stop()
    expect(poisonCalls).toBe(3)
    const applied = await appliedCounts(bed, t.schema)
    expect(applied.has(poison as string)).toBe(false)
    expect([...applied.values()]).toEqual([1, 1, 1, 1, 1])
    const dead = await drainQueue(await bed.channel(), t.topology.deadLetterQueue)
    expect(dead).toHaveLength(1)
    expect(dead[0]?.properties.messageId).toBe(poison)
    expect(dead[0]?.properties.headers).toMatchObject({
      [RabbitMqHeaders.deadCode]: RabbitMqErrorCodes.DELIVERY_LIMIT,
      [RabbitMqHeaders.deadAttempts]: 3,
      [RabbitMqHeaders.deadQueue]: t.topology.queue,
      'correlation-id': 'c-3',
    })
    expect(String(dead[0]?.properties.headers?.[RabbitMqHeaders.deadReason])).toContain('cannot apply this one')
    expect(JSON.parse(dead[0]?.content.toString() ?? '')).toEqual({ cents: 3, seq: 3 })
    await t.publisher.close?.()
  })

  it('an invalid payload or an unknown type is dead-lettered at once with the reason, never handled', async () => {
    const t = await fresh(bed)
    const bad = t.message(1, { cents: 'ten', seq: 1 })
    const unknown = t.message(2, { x: 1 }, 'AccountFrozen')
    const good = t.message(3)
    await t.publish([bad, unknown, good])
    const c = t.consumer()
    await c.start()
    await waitFor('the consumer', async () => c.counts['dead-lettered'] === 2 && c.counts.processed === 1)
    await c.stop()
    expect([...(await appliedCounts(bed, t.schema)).keys()]).toEqual([good.messageId])
    const dead = await drainQueue(await bed.channel(), t.topology.deadLetterQueue)
    expect(dead.map((d) => [d.properties.messageId, d.properties.headers?.[RabbitMqHeaders.deadCode]])).toEqual([
      [bad.messageId, RabbitMqErrorCodes.INVALID_MESSAGE],
      [unknown.messageId, RabbitMqErrorCodes.NO_HANDLER],
    ])
    expect(String(dead[0]?.properties.headers?.[RabbitMqHeaders.deadReason])).toContain('cents')
    expect(dead[0]?.properties.headers?.[RabbitMqHeaders.deadAttempts]).toBe(1)
    await t.publisher.close?.()
  })

  it('stop() lets the message in hand commit and be acked, and hands the prefetched rest back to the queue', async () => {
    const t = await fresh(bed)
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let started = 0
    const c = t.consumer({
      prefetch: 5,
      handlers: {
        AccountDeposited: defineRabbitMqHandler(Deposit, async (data, m, tx) => {
          started += 1
          await gate
          await tx.query(`INSERT INTO ${t.schema}.applied (message_id, seq) VALUES ($1, $2)`, [m.messageId, data.seq])
        }),
      },
    })
    await t.publish([1, 2, 3, 4].map((i) => t.message(i)))
    await c.start()
    await waitFor('the first message in hand', () => started === 1)
    const stopped = c.stop()
    // Give stop() a moment to reach the in-flight message before it may finish.
    await new Promise((r) => setTimeout(r, 100))
    release()
    await stopped
    expect(started).toBe(1)
    expect([...(await appliedCounts(bed, t.schema)).values()]).toEqual([1])
    const { messageCount } = await (await bed.channel()).checkQueue(t.topology.queue)
    expect(messageCount).toBe(3)
    // A new consumer picks up exactly the rest.
    const next = t.consumer()
    await next.start()
    await waitFor('the consumer', async () => (await appliedCounts(bed, t.schema)).size === 4)
    await next.stop()
    expect([...(await appliedCounts(bed, t.schema)).values()]).toEqual([1, 1, 1, 1])
    await t.publisher.close?.()
  })

  it('rejects bad options with a typed error and a second start() with ALREADY_STARTED', async () => {
    const t = await fresh(bed)
    expect(() => t.consumer({ prefetch: 0 })).toThrow(
      expect.objectContaining({ code: RabbitMqErrorCodes.INVALID_OPTION }),
    )
    expect(() => t.consumer({ queue: '' })).toThrow(
      expect.objectContaining({ code: RabbitMqErrorCodes.INVALID_OPTION }),
    )
    const c = t.consumer()
    await c.start()
    await expect(c.start()).rejects.toMatchObject({ code: RabbitMqErrorCodes.ALREADY_STARTED })
    await c.stop()
    const missing = t.consumer({ queue: bed.name('missing') })
    await expect(missing.start()).rejects.toMatchObject({ code: RabbitMqErrorCodes.CHANNEL_CLOSED })
    await t.publisher.close?.()
  })
})
