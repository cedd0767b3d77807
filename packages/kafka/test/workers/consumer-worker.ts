// A consumer-group member in its own process, for crash and rebalance tests. Env:
//   DATABASE_URL, SCHEMA, KAFKA_BROKERS, TOPIC, GROUP, WORKER (a name written with each effect)
//   HANDLE_DELAY_MS=n   each handler waits n ms inside its transaction (so a SIGKILL lands mid-batch)
//   WAIT_FOR_GO=1       print "LOADED" once imported and join the group only on SIGUSR2 (a warm spare)
// Prints "READY" once started and "ASSIGNED <partitions>" whenever its assignment changes.
import pg from 'pg'
import { z } from 'zod'
import { createKafkaConsumer, kafkaHandler } from '../../src/kafka-consumer.js'

const schema = process.env.SCHEMA ?? 'app'
const worker = process.env.WORKER ?? `w-${process.pid}`
const delay = Number(process.env.HANDLE_DELAY_MS ?? 0)
const group = process.env.GROUP ?? 'g'
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
pool.on('error', () => undefined)

const consumer = createKafkaConsumer({
  brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
  group,
  topics: [process.env.TOPIC ?? 't'],
  inbox: { pool, schema },
  // Long enough that a member starved of CPU on a busy machine is not dropped; short enough for the test.
  sessionTimeoutMs: 8_000,
  heartbeatIntervalMs: 800,
  maxWaitTimeMs: 100,
  handleSignals: true,
  handlers: {
    Stepped: kafkaHandler(z.object({ key: z.string(), seq: z.number() }), async (m, tx) => {
      if (delay > 0) await new Promise((r) => setTimeout(r, delay))
      await tx.query(`INSERT INTO ${schema}.effects (grp, message_id, key, seq, worker) VALUES ($1, $2, $3, $4, $5)`, [
        group,
        m.messageId,
        m.payload.key,
        m.payload.seq,
        worker,
      ])
    }),
  },
})
if (process.env.WAIT_FOR_GO === '1') {
  // A pending signal does not keep Node alive (it would exit with 13, an unsettled top-level await).
  const keepAlive = setInterval(() => undefined, 60_000)
  const go = new Promise((resolve) => process.once('SIGUSR2', resolve))
  process.stdout.write('LOADED\n')
  await go
  clearInterval(keepAlive)
}
await consumer.start()
process.stdout.write('READY\n')
let last = ''
const timer = setInterval(() => {
  const now = consumer
    .assignments()
    .map((a) => a.partition)
    .sort((a, b) => a - b)
    .join(',')
  if (now !== last) process.stdout.write(`ASSIGNED ${now}\n`)
  last = now
}, 100)
await consumer.whenStopped()
clearInterval(timer)
await pool.end()
