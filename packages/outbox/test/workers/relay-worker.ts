// A relay in its own process, for crash tests. Env: DATABASE_URL, OUTBOX_SCHEMA, REDIS_PREFIX, RELAY_ID
// and the fault hooks of relayCrashHooks (PUBLISH_DELAY_MS, HANG_AFTER_PUBLISH, BATCH_SIZE).
import { REDIS_URL, relayCrashHooks } from '@annals/test-support'
import { Redis } from 'ioredis'
import pg from 'pg'
import { createRedisStreamsPublisher } from '../../src/redis-streams-publisher.js'
import { createOutboxRelay } from '../../src/relay/outbox-relay.js'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
pool.on('error', () => undefined)
const redis = new Redis(REDIS_URL)
const hooks = relayCrashHooks(createRedisStreamsPublisher({ redis, keyPrefix: process.env.REDIS_PREFIX ?? 'annals' }))
const relay = createOutboxRelay({
  pool,
  schema: process.env.OUTBOX_SCHEMA ?? 'app',
  ...hooks,
  pollIntervalMs: 20,
  backoff: { initialDelayMs: 20, maxDelayMs: 200 },
  relayId: process.env.RELAY_ID,
  handleSignals: true,
})
await relay.start()
process.stdout.write('READY\n')
// SIGTERM stops the relay gracefully (handleSignals); then the process lets go of its connections.
await relay.whenStopped()
redis.disconnect()
await pool.end()
