// A consumer in its own process, for crash tests. Env:
//   DATABASE_URL, SCHEMA, QUEUE, AMQP_URL
//   HANG=handler       print "HANDLING <id>" inside the handler's transaction (effect written, not committed), then hang
//   HANG=after-commit  print "COMMITTED <id> <outcome>" once the effect committed, then hang before the ack
// Without HANG it prints "DONE <id> <outcome>" after each ack.

import amqp from 'amqplib'
import pg from 'pg'
import { z } from 'zod'
import { createRabbitMqConsumer, defineRabbitMqHandler } from '../../src/index.js'

const schema = process.env.SCHEMA ?? 'app'
const hang = process.env.HANG
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
pool.on('error', () => undefined)
const connection = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672')
const forever = () => new Promise<never>(() => undefined)

const deposited = defineRabbitMqHandler(z.object({ cents: z.number(), seq: z.number() }), async (data, message, tx) => {
  await tx.query(`INSERT INTO ${schema}.applied (message_id, seq) VALUES ($1, $2)`, [message.messageId, data.seq])
  if (hang === 'handler') {
    process.stdout.write(`HANDLING ${message.messageId}\n`)
    await forever()
  }
})

const consumer = createRabbitMqConsumer({
  connection,
  queue: process.env.QUEUE ?? 'q',
  prefetch: 1,
  handlers: { AccountDeposited: deposited },
  inbox: { pool, schema, consumer: 'crash-test' },
  handleSignals: true,
  afterCommit: async (message, outcome) => {
    if (hang === 'after-commit') {
      process.stdout.write(`COMMITTED ${message.messageId} ${outcome}\n`)
      await forever()
    }
    setImmediate(() => process.stdout.write(`DONE ${message.messageId} ${outcome}\n`))
  },
})
await consumer.start()
process.stdout.write('READY\n')
await consumer.whenStopped()
await connection.close()
await pool.end()
