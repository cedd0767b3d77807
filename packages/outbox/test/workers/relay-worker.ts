// A relay in its own process, for crash tests. Env:
//   DATABASE_URL, OUTBOX_SCHEMA, REDIS_PREFIX, BATCH_SIZE
//   HANG_AFTER_PUBLISH=1  print "ACKED <ids>" once the broker acknowledged a batch, then hang before marking
//   PUBLISH_DELAY_MS=n    wait up to n ms (random) before each publish, to widen race windows
import type { EventPublisher } from '@annals/core'
import { REDIS_URL } from '@annals/test-support'
import { Redis } from 'ioredis'
import pg from 'pg'
import { createRedisStreamsPublisher } from '../../src/redis-streams-publisher.js'
import { createOutboxRelay } from '../../src/relay/outbox-relay.js'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
pool.on('error', () => undefined)
const redis = new Redis(REDIS_URL)
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
  backoff: { initialDelayMs: 20, maxDelayMs: 200 },
  relayId: process.env.RELAY_ID,
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
// SIGTERM stops the relay gracefully (handleSignals); then the process lets go of its connections.
await relay.whenStopped()
redis.disconnect()
await pool.end()
