// The history checker's consumer process: reads the outbox's Redis stream in a consumer group and
// applies each message through the idempotent handler (its id recorded in the same transaction as the
// row it writes). Env: DATABASE_URL, BROKER_URL.
import { type ConsumedMessage, createIdempotentHandler, createRedisStreamsConsumer } from '@annals/outbox'
import { Redis } from 'ioredis'
import pg from 'pg'
import { pino } from 'pino'
import { BROKER_PREFIX, CONSUMED_TABLE, HISTORY_SCHEMA, HISTORY_TOPIC } from './history-model.js'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 })
pool.on('error', () => undefined)
const redis = new Redis(process.env.BROKER_URL ?? 'redis://127.0.0.1:6379')
const handle = createIdempotentHandler<ConsumedMessage>({
  pool,
  schema: HISTORY_SCHEMA,
  consumer: 'history',
  async handle(message, tx) {
    const { description } = message.payload as { description?: string }
    await tx.query(`INSERT INTO ${CONSUMED_TABLE} (message_id, stream_id, uid) VALUES ($1, $2, $3)`, [
      message.messageId,
      message.partitionKey,
      description ?? '',
    ])
  },
})
const consumer = createRedisStreamsConsumer({
  redis,
  keyPrefix: BROKER_PREFIX,
  topic: HISTORY_TOPIC,
  group: 'history',
  // Stable across restarts: the next incarnation handles what the killed one left pending first.
  consumer: 'history-1',
  blockMs: 100,
  retryDelayMs: 200,
  // A consumer SIGKILLed mid-handler counts a delivery each time; the checker must never lose one to that.
  maxDeliveries: 'unbounded',
  handleSignals: true,
  logger: pino({ level: 'warn' }),
  handle,
})
await consumer.start()
process.stdout.write('READY\n')
await consumer.whenStopped()
await pool.end()
redis.disconnect()
