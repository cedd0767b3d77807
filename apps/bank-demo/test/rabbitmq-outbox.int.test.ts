import { randomBytes, randomUUID } from 'node:crypto'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import amqp from 'amqplib'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgresWriteSide, TRANSACTIONS_TOPIC } from '../src/postgres-write-side.js'
import { rabbitMqOutbox } from '../src/rabbitmq-outbox.js'

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'
const prefix = `bank-test-${randomBytes(4).toString('hex')}.`
const exchange = `${prefix}${TRANSACTIONS_TOPIC}`
let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase('bank_rabbitmq')
})
afterAll(async () => {
  const connection = await amqp.connect(AMQP_URL)
  const ch = await connection.createChannel()
  for (const q of [`${exchange}.all`, `${exchange}.all.dead`]) await ch.deleteQueue(q)
  for (const x of [exchange, `${exchange}.all.dlx`]) await ch.deleteExchange(x)
  await connection.close()
  await db?.drop()
})

describe('the bank with AMQP_URL', () => {
  it('relays every deposit through the outbox to the RabbitMQ topic exchange and says so', async () => {
    const broker = await rabbitMqOutbox(AMQP_URL, TRANSACTIONS_TOPIC, pino({ level: 'silent' }), prefix)
    const side = await postgresWriteSide(db.pool, { keyPrefix: 'unused:', brokers: [broker] })
    try {
      expect(side.describe).toContain(`RabbitMQ topic exchange ${exchange}`)
      expect(side.describe).not.toContain('Redis')
      const accountId = randomUUID()
      await side.store.appendToStream(`account-${accountId}`, [
        { type: 'MoneyDeposited', data: { accountId, amount: 321, transferId: null } },
      ])
      const connection = await amqp.connect(AMQP_URL)
      try {
        const ch = await connection.createChannel()
        let got: amqp.GetMessage | false = false
        for (let i = 0; i < 400 && got === false; i++) {
          got = await ch.get(`${exchange}.all`, { noAck: true })
          if (got === false) await new Promise((r) => setTimeout(r, 50))
        }
        expect(got).not.toBe(false)
        if (got === false) return
        expect(got.fields.routingKey).toBe('bank.deposit')
        expect(got.properties.type).toBe('bank.deposit')
        expect(JSON.parse(got.content.toString())).toMatchObject({ accountId, amount: 321 })
      } finally {
        await connection.close()
      }
    } finally {
      await side.release?.()
    }
  })
})
