// An outbox relay publishing to Kafka in its own process, for crash tests. Env:
//   DATABASE_URL, OUTBOX_SCHEMA, KAFKA_BROKERS, BATCH_SIZE
//   HANG_CHANCE=p        after a batch is acknowledged, with probability p print "ACKED <n>" and hang before
//                        marking it sent (the test then SIGKILLs the process: the batch goes again)
//   PUBLISH_DELAY_MS=n   wait up to n ms (random) before each publish, to widen race windows
//   WAIT_FOR_GO=1        print "LOADED" once imported, start the relay on SIGUSR2 (a warm spare: loading
//                        takes seconds on a busy machine, so a test replaces a killed relay at once)
import type { EventPublisher } from '@annals/core'
import { createOutboxRelay } from '@annals/outbox'
import pg from 'pg'
import { createKafkaPublisher } from '../../src/kafka-publisher.js'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
pool.on('error', () => undefined)
const inner = createKafkaPublisher({ brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092' })
const delay = Number(process.env.PUBLISH_DELAY_MS ?? 0)
const hangChance = Number(process.env.HANG_CHANCE ?? 0)
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
  pipelineDepth: 1,
  pollIntervalMs: 20,
  backoff: { initialDelayMs: 20, maxDelayMs: 200 },
  handleSignals: true,
  afterPublish:
    hangChance > 0
      ? async (messages) => {
          if (Math.random() >= hangChance) return
          process.stdout.write(`ACKED ${messages.length}\n`)
          await new Promise(() => undefined)
        }
      : undefined,
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
