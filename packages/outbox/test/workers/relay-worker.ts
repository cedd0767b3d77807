// A relay in its own process, for crash tests. Env:
//   DATABASE_URL, OUTBOX_SCHEMA, REDIS_PREFIX, BATCH_SIZE
//   HANG_AFTER_PUBLISH=1  print "ACKED <ids>" once the broker acknowledged a batch, then hang before marking
//   PUBLISH_DELAY_MS=n    wait up to n ms (random) before each publish, to widen race windows
import type { EventPublisher } from '@annals/core'
import { Redis } from 'ioredis'
import pg from 'pg'
import { createOutboxRelay } from '../../src/outbox-relay.js'
import { createRedisStreamsPublisher } from '../../src/redis-streams-publisher.js'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
pool.on('error', () => undefined)
const redis = new Redis({ host: '127.0.0.1', port: 6379 })
const inner = createRedisStreamsPublisher({ redis, keyPrefix: process.env.REDIS_PREFIX ?? 'annals' })
const delay = Number(process.env.PUBLISH_DELAY_MS ?? 0)
const publisher: EventPublisher = {
  async publish(messages) {
    if (delay > 0) await new Promise((r) => setTimeout(r, Math.random() * delay))
    await inner.publish(messages)
  },
}
const relay = createOutboxRelay({
  pool,
  schema: process.env.OUTBOX_SCHEMA ?? 'app',
  publisher,
  batchSize: Number(process.env.BATCH_SIZE ?? 100),
  pollIntervalMs: 20,
  backoff: { initialMs: 20, maxMs: 200 },
  relayId: process.env.RELAY_ID,
  afterPublish:
    process.env.HANG_AFTER_PUBLISH === '1'
      ? async (messages) => {
          process.stdout.write(`ACKED ${messages.map((m) => m.messageId).join(',')}\n`)
          await new Promise(() => undefined)
        }
      : undefined,
})
relay.start()
process.stdout.write('READY\n')
process.on('SIGTERM', () => {
  void relay.stop().then(async () => {
    redis.disconnect()
    await pool.end()
    process.exit(0)
  })
})
