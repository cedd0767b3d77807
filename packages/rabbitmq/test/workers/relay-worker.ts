// A relay to RabbitMQ in its own process, for crash tests. Env:
//   DATABASE_URL, SCHEMA, AMQP_URL
//   HANG_AFTER_PUBLISH=1  print "ACKED <ids>" once the broker confirmed a batch, then hang before marking
import { createOutboxRelay } from '@annals/outbox'
import amqp from 'amqplib'
import pg from 'pg'
import { createRabbitMqPublisher } from '../../src/index.js'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
pool.on('error', () => undefined)
const connection = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672')
const relay = createOutboxRelay({
  pool,
  schema: process.env.SCHEMA ?? 'app',
  publisher: createRabbitMqPublisher({ connection }),
  pollIntervalMs: 20,
  handleSignals: true,
  afterPublish:
    process.env.HANG_AFTER_PUBLISH === '1'
      ? async (messages) => {
          process.stdout.write(`ACKED ${messages.map((m) => m.messageId).join(',')}\n`)
          await new Promise(() => undefined)
        }
      : undefined,
})
await relay.start()
process.stdout.write('READY\n')
await relay.whenStopped()
await connection.close()
await pool.end()
