import { randomUUID } from 'node:crypto'
import type { OutboundMessage } from '@annals/core'
import { waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { OutboxErrorCodes } from '../src/errors.js'
import { createIdempotentHandler } from '../src/idempotent-handler.js'
import { migrateOutbox } from '../src/migrate-outbox.js'
import { type ConsumedMessage, createRedisStreamsConsumer, deadLetterStreamKey } from '../src/redis-streams-consumer.js'
import { listConsumerDeadLetters, redriveConsumerDeadLetters } from '../src/redis-streams-dead-letters.js'
import { createRedisStreamsPublisher, streamKey } from '../src/redis-streams-publisher.js'
import { consumerOf, useTestbed } from './helpers.js'

const bed = useTestbed('deadletters')
let prefixes = 0

/** A key prefix of its own for one test. */
function freshPrefix(): string {
  prefixes += 1
  return `${bed.keyPrefix}dl${prefixes}`
}

/** One message of key `k` on topic `t` per number, payload `{ n }`, published in one batch. */
async function publishNumbered(keyPrefix: string, numbers: readonly number[]): Promise<OutboundMessage[]> {
  const messages = numbers.map((n) => ({
    messageId: randomUUID(),
    topic: 't',
    partitionKey: 'k',
    type: 'X',
    payload: { n },
    headers: {},
  }))
  await createRedisStreamsPublisher({ redis: bed.redis, keyPrefix }).publish(messages)
  return messages
}

const nOf = (m: ConsumedMessage) => (m.payload as { n: number }).n

async function pendingCount(keyPrefix: string, group: string): Promise<number> {
  return ((await bed.redis.call('XPENDING', streamKey(keyPrefix, 't'), group)) as [number])[0]
}

describe('Redis Streams dead letters', () => {
  it('dead-letters one poison message among many after 5 deliveries by default, with its reason, and handles all the rest', async () => {
    const keyPrefix = freshPrefix()
    const numbers = Array.from({ length: 20 }, (_, n) => n)
    const published = await publishNumbered(keyPrefix, numbers)
    const handled: number[] = []
    let poisonAttempts = 0
    const consumer = consumerOf(bed, {
      keyPrefix,
      group: 'billing',
      consumer: 'billing-1',
      retryDelayMs: 5,
      handle: async (m) => {
        if (nOf(m) === 7) {
          poisonAttempts += 1
          throw Object.assign(new Error('cannot bill order 7'), { code: 'BILLING_REJECTED' })
        }
        handled.push(nOf(m))
      },
    })
    await consumer.start()
    try {
      await waitFor('the rest to be handled', () => handled.length === 19, 10_000)
    } finally {
      await consumer.stop()
    }
    expect(handled).toEqual(numbers.filter((n) => n !== 7))
    expect(poisonAttempts).toBe(5)
    expect(await pendingCount(keyPrefix, 'billing')).toBe(0)
    const original = (await bed.redis.xrange(streamKey(keyPrefix, 't'), '-', '+'))[7]?.[0]
    const dead = await listConsumerDeadLetters({ redis: bed.redis, keyPrefix, topic: 't', group: 'billing' })
    expect(dead).toEqual([
      expect.objectContaining({
        messageId: published[7]?.messageId,
        payload: { n: 7 },
        entryId: original,
        stream: streamKey(keyPrefix, 't'),
        consumer: 'billing-1',
        deliveries: 5,
        error: 'Error: cannot bill order 7',
        errorCode: 'BILLING_REJECTED',
      }),
    ])
    expect(dead[0]?.deadAt.getTime()).toBeGreaterThan(Date.now() - 60_000)
  })

  it('dead-letters, unhandled, an entry delivered more than maxDeliveries times whose handler never finished', async () => {
    const keyPrefix = freshPrefix()
    await publishNumbered(keyPrefix, [0, 1])
    const stream = streamKey(keyPrefix, 't')
    // Five deliveries to c1 that never got an answer, as when the handler crashes the process each time.
    await bed.redis.call('XGROUP', 'CREATE', stream, 'g', '0')
    await bed.redis.call('XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', '1', 'STREAMS', stream, '>')
    for (let i = 0; i < 4; i++)
      await bed.redis.call('XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', '1', 'STREAMS', stream, '0')
    const handled: number[] = []
    const survivor = consumerOf(bed, {
      keyPrefix,
      group: 'g',
      consumer: 'c1',
      handle: async (m) => {
        handled.push(nOf(m))
      },
    })
    expect(await survivor.runOnce()).toMatchObject({ processed: 0, failed: 0, deadLettered: 1 })
    expect(await survivor.runOnce()).toMatchObject({ processed: 1, failed: 0, deadLettered: 0 })
    await survivor.stop()
    expect(handled).toEqual([1])
    const [dead] = await listConsumerDeadLetters({ redis: bed.redis, keyPrefix, topic: 't', group: 'g' })
    expect(dead).toMatchObject({ payload: { n: 0 }, deliveries: 6, errorCode: null })
    expect(dead?.error).toContain('without its handler finishing')
  })

  it('redrives a dead letter once: the fixed handler applies it once, the other groups skip it, a second redrive moves nothing', async () => {
    const keyPrefix = freshPrefix()
    const schema = 'redrive'
    await migrateOutbox({ pool: bed.db.pool, schema })
    await bed.db.pool.query(`CREATE TABLE ${schema}.charges (n int NOT NULL)`)
    let broken = true
    const billing = consumerOf(bed, {
      keyPrefix,
      group: 'billing',
      consumer: 'billing-1',
      maxDeliveries: 2,
      handle: createIdempotentHandler<ConsumedMessage>({
        pool: bed.db.pool,
        schema,
        consumer: 'billing',
        handle: async (m, tx) => {
          await tx.query(`INSERT INTO ${schema}.charges VALUES ($1)`, [nOf(m)])
          if (broken && nOf(m) === 1) throw new Error('tax service down')
        },
      }),
    })
    const audited: number[] = []
    const audit = consumerOf(bed, {
      keyPrefix,
      group: 'audit',
      consumer: 'audit-1',
      handle: async (m) => {
        audited.push(nOf(m))
      },
    })
    await publishNumbered(keyPrefix, [0, 1, 2])
    for (let i = 0; i < 3; i++) await billing.runOnce()
    await audit.runOnce()
    const location = { redis: bed.redis, keyPrefix, topic: 't', group: 'billing' }
    const [dead] = await listConsumerDeadLetters(location)
    expect(dead?.payload).toEqual({ n: 1 })

    broken = false
    expect(await redriveConsumerDeadLetters(location)).toEqual({ redriven: 1 })
    expect(await redriveConsumerDeadLetters(location)).toEqual({ redriven: 0 })
    expect(await redriveConsumerDeadLetters({ ...location, ids: [dead?.id ?? ''] })).toEqual({ redriven: 0 })
    expect(await listConsumerDeadLetters(location)).toEqual([])
    expect(await billing.runOnce()).toMatchObject({ processed: 1, failed: 0 })
    expect(await audit.runOnce()).toMatchObject({ processed: 0, failed: 0 })
    await Promise.all([billing.stop(), audit.stop()])

    const { rows } = await bed.db.pool.query(`SELECT n FROM ${schema}.charges ORDER BY n`)
    expect(rows).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }])
    expect(audited).toEqual([0, 1, 2])
    expect(await pendingCount(keyPrefix, 'billing')).toBe(0)
    expect(await pendingCount(keyPrefix, 'audit')).toBe(0)
    const redriven = (await bed.redis.xrange(streamKey(keyPrefix, 't'), '-', '+'))[3]?.[1] ?? []
    expect(redriven.slice(-4)).toEqual(['redriveGroup', 'billing', 'redrivenFrom', dead?.id])
    expect(redriven).not.toContain('error')
  })

  it('leaves a dead letter where it was when Redis refuses to redrive it, and moves it once when it can', async () => {
    const keyPrefix = freshPrefix()
    await publishNumbered(keyPrefix, [0])
    const consumer = consumerOf(bed, {
      keyPrefix,
      group: 'g',
      consumer: 'c1',
      maxDeliveries: 1,
      handle: async () => {
        throw new Error('poison')
      },
    })
    expect(await consumer.runOnce()).toMatchObject({ deadLettered: 1 })
    await consumer.stop()
    const stream = streamKey(keyPrefix, 't')
    await bed.redis.del(stream)
    await bed.redis.set(stream, 'not a stream')
    const location = { redis: bed.redis, keyPrefix, topic: 't', group: 'g' }
    const [dead] = await listConsumerDeadLetters(location)
    await expect(redriveConsumerDeadLetters(location)).rejects.toMatchObject({
      code: OutboxErrorCodes.REDRIVE_FAILED,
      redriven: 0,
      failedIds: [dead?.id],
    })
    expect((await listConsumerDeadLetters(location)).map((d) => d.id)).toEqual([dead?.id])
    await bed.redis.del(stream)
    expect(await redriveConsumerDeadLetters(location)).toEqual({ redriven: 1 })
    expect(await bed.redis.xlen(stream)).toBe(1)
    expect(await bed.redis.xlen(deadLetterStreamKey(keyPrefix, 't', 'g'))).toBe(0)
  })

  it('bounds the dead-letter stream to about deadLetterMaxLen entries', async () => {
    const keyPrefix = freshPrefix()
    await publishNumbered(
      keyPrefix,
      Array.from({ length: 400 }, (_, n) => n),
    )
    const consumer = consumerOf(bed, {
      keyPrefix,
      group: 'g',
      consumer: 'c1',
      batchSize: 400,
      maxDeliveries: 1,
      deadLetterMaxLen: 10,
      handle: async () => {
        throw new Error('poison')
      },
    })
    expect(await consumer.runOnce()).toMatchObject({ deadLettered: 400 })
    await consumer.stop()
    const len = await bed.redis.xlen(deadLetterStreamKey(keyPrefix, 't', 'g'))
    expect(len).toBeGreaterThanOrEqual(10)
    expect(len).toBeLessThan(400)
  })

  it('trims the topic stream and the dead-letter stream by default (MAXLEN ~ 1,000,000 and ~ 100,000)', async () => {
    const keyPrefix = freshPrefix()
    const adds: string[][] = []
    const monitor = await bed.redis.monitor()
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toUpperCase() === 'XADD' && args[1]?.startsWith(keyPrefix)) adds.push(args.slice(1, 5))
    })
    try {
      await publishNumbered(keyPrefix, [0])
      const consumer = consumerOf(bed, {
        keyPrefix,
        group: 'g',
        consumer: 'c1',
        maxDeliveries: 1,
        handle: async () => {
          throw new Error('poison')
        },
      })
      expect(await consumer.runOnce()).toMatchObject({ deadLettered: 1 })
      await consumer.stop()
      await waitFor('both XADDs to be seen', () => adds.length === 2)
    } finally {
      monitor.disconnect()
    }
    expect(adds).toEqual([
      [streamKey(keyPrefix, 't'), 'MAXLEN', '~', '1000000'],
      [deadLetterStreamKey(keyPrefix, 't', 'g'), 'MAXLEN', '~', '100000'],
    ])
  })

  it('rejects a maxDeliveries or deadLetterMaxLen below 1 with the option error', () => {
    const base = { redis: bed.redis, topic: 't', group: 'g', consumer: 'c', handle: async () => {} }
    expect(() => createRedisStreamsConsumer({ ...base, maxDeliveries: 0 })).toThrow(
      expect.objectContaining({ code: OutboxErrorCodes.INVALID_OPTION, option: 'maxDeliveries' }),
    )
    expect(() => createRedisStreamsConsumer({ ...base, deadLetterMaxLen: 0 })).toThrow(
      expect.objectContaining({ code: OutboxErrorCodes.INVALID_OPTION, option: 'deadLetterMaxLen' }),
    )
  })
})
