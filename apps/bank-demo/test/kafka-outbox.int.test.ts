import { randomBytes, randomUUID } from 'node:crypto'
import { parseBrokers } from '@annals/kafka'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import { Admin, Consumer, type Message, stringDeserializers } from '@platformatic/kafka'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { kafkaOutbox } from '../src/kafka-outbox.js'
import { postgresWriteSide, TRANSACTIONS_TOPIC } from '../src/postgres-write-side.js'

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'
const prefix = `bank-test-${randomBytes(4).toString('hex')}.`
const topic = `${prefix}${TRANSACTIONS_TOPIC}`
let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase('bank_kafka')
})
afterAll(async () => {
  const admin = new Admin({ clientId: 'bank-test', bootstrapBrokers: parseBrokers(BROKERS) })
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
  await admin.close()
  await db?.drop()
})

async function recordsInTopic(): Promise<bigint> {
  const admin = new Admin({ clientId: 'bank-test', bootstrapBrokers: parseBrokers(BROKERS) })
  try {
    const count = (await admin.metadata({ topics: [topic] })).topics.get(topic)?.partitionsCount ?? 0
    const partitions = Array.from({ length: count }, (_, p) => ({ partitionIndex: p, timestamp: -1n }))
    const listed = await admin.listOffsets({ topics: [{ name: topic, partitions }] })
    return listed[0]?.partitions.reduce((n, p) => n + p.offset, 0n) ?? 0n
  } catch {
    return 0n // the topic does not exist until the relay's first send creates it
  } finally {
    await admin.close()
  }
}

describe('the bank with KAFKA_BROKERS', () => {
  it('relays a deposit through the outbox to the Kafka topic, keyed by its account stream, and says so', async () => {
    const broker = kafkaOutbox(BROKERS, TRANSACTIONS_TOPIC, pino({ level: 'silent' }), prefix)
    const side = await postgresWriteSide(db.pool, { keyPrefix: 'unused:', brokers: [broker] })
    try {
      expect(side.describe).toContain(`Kafka topic ${topic}`)
      const accountId = randomUUID()
      await side.store.appendToStream(`account-${accountId}`, [
        { type: 'MoneyDeposited', data: { accountId, amount: 321, transferId: null } },
      ])
      for (let i = 0; i < 240 && (await recordsInTopic()) === 0n; i++) await new Promise((r) => setTimeout(r, 250))
      expect(await recordsInTopic()).toBe(1n)
      const consumer = new Consumer<string, string, string, string>({
        clientId: 'bank-test',
        groupId: `${prefix}reader`,
        bootstrapBrokers: parseBrokers(BROKERS),
        deserializers: stringDeserializers,
        maxWaitTime: 200,
      })
      try {
        const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false })
        let first: Message<string, string, string, string> | undefined
        for await (const m of stream as AsyncIterable<Message<string, string, string, string>>) {
          first = m
          break
        }
        await stream.close()
        expect(first?.key).toBe(`account-${accountId}`)
        expect(JSON.parse(first?.value ?? '{}')).toMatchObject({ accountId, amount: 321 })
      } finally {
        await consumer.close()
      }
    } finally {
      await side.release?.()
    }
  })
})
