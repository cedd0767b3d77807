// A relay to RabbitMQ in its own process, for crash tests. Env: DATABASE_URL, SCHEMA, AMQP_URL and the
// fault hooks of relayCrashHooks (HANG_AFTER_PUBLISH, PUBLISH_DELAY_MS, BATCH_SIZE).
import { createOutboxRelay } from '@annals/outbox'
import { relayCrashHooks } from '@annals/test-support'
import amqp from 'amqplib'
import pg from 'pg'
import { createRabbitMqPublisher } from '../../src/index.js'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
pool.on('error', () => undefined)
const connection = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672')
const relay = createOutboxRelay({
  pool,
  schema: process.env.SCHEMA ?? 'app',
  ...relayCrashHooks(createRabbitMqPublisher({ connection })),
  pollIntervalMs: 20,
  handleSignals: true,
})
await relay.start()
process.stdout.write('READY\n')
await relay.whenStopped()
await connection.close()
await pool.end()
