// An outbox relay publishing to Kafka in its own process, for crash tests. Env: DATABASE_URL,
// OUTBOX_SCHEMA, KAFKA_BROKERS, the fault hooks of relayCrashHooks (PUBLISH_DELAY_MS, HANG_CHANCE,
// BATCH_SIZE), and
//   WAIT_FOR_GO=1        print "LOADED" once imported, start the relay on SIGUSR2 (a warm spare: loading
//                        takes seconds on a busy machine, so a test replaces a killed relay at once)
import { createOutboxRelay } from '@annals/outbox'
import { relayCrashHooks } from '@annals/test-support'
import pg from 'pg'
import { createKafkaPublisher } from '../../src/kafka-publisher.js'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
pool.on('error', () => undefined)
const inner = createKafkaPublisher({ brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092' })
const relay = createOutboxRelay({
  pool,
  schema: process.env.OUTBOX_SCHEMA ?? 'app',
  ...relayCrashHooks(inner),
  pipelineDepth: 1,
  pollIntervalMs: 20,
  backoff: { initialDelayMs: 20, maxDelayMs: 200 },
  handleSignals: true,
})
if (process.env.WAIT_FOR_GO === '1') {
  // A pending signal does not keep Node alive (it would exit with 13, an unsettled top-level await).
  const keepAlive = setInterval(() => undefined, 60_000)
  const go = new Promise((resolve) => process.once('SIGUSR2', resolve))
  process.stdout.write('LOADED\n')
  await go
  clearInterval(keepAlive)
}
await relay.start()
process.stdout.write('READY\n')
await relay.whenStopped()
await inner.close()
await pool.end()
