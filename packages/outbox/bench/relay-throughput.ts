// Relay throughput to Redis Streams: messages per second from a pre-filled outbox to acknowledged XADDs.
// Run from the repository root:
//   node --conditions=@annals/source --import tsx packages/outbox/bench/relay-throughput.ts
// Env: MESSAGES (default 50000), KEYS (partition keys, default 100), BATCH (default 500), RELAYS (default 1),
//      PAYLOAD_BYTES (default 200). Creates and drops its own database and Redis key prefix.
import { randomBytes, randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'
import { pino } from 'pino'
import { migrateOutbox } from '../src/migrate-outbox.js'
import { getOutboxStatus } from '../src/outbox-admin.js'
import { createRedisStreamsPublisher } from '../src/redis-streams-publisher.js'
import { createOutboxRelay } from '../src/relay/outbox-relay.js'

const MESSAGES = Number(process.env.MESSAGES ?? 50_000)
const KEYS = Number(process.env.KEYS ?? 100)
const BATCH = Number(process.env.BATCH ?? 500)
const RELAYS = Number(process.env.RELAYS ?? 1)
const PAYLOAD_BYTES = Number(process.env.PAYLOAD_BYTES ?? 200)
const base = process.env.PG_BASE ?? 'postgres://postgres@127.0.0.1:5432'

const dbName = `annals_outbox_bench_${randomBytes(4).toString('hex')}`
const keyPrefix = `annals-outbox-bench-${randomBytes(4).toString('hex')}`
const admin = new pg.Client({ connectionString: `${base}/postgres` })
await admin.connect()
await admin.query(`CREATE DATABASE ${dbName}`)
const pool = new pg.Pool({ connectionString: `${base}/${dbName}`, max: RELAYS + 4 })
pool.on('error', () => undefined)
const redis = new Redis({ host: '127.0.0.1', port: 6379 })
try {
  await migrateOutbox({ pool, schema: 'bench' })
  const filler = 'x'.repeat(PAYLOAD_BYTES)
  for (let done = 0; done < MESSAGES; done += 5000) {
    const n = Math.min(5000, MESSAGES - done)
    const ids = Array.from({ length: n }, () => randomUUID())
    await pool.query(
      `INSERT INTO bench.outbox (message_id, topic, partition_key, type, payload, headers, event_id, event_position)
       SELECT id, 'orders', 'key-' || ((done + i) % $2), 'OrderPlaced',
              jsonb_build_object('seq', done + i, 'filler', $3::text), '{"annals-stream-id":"x"}'::jsonb, id, done + i
         FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, i), (SELECT $4::int AS done) d`,
      [ids, KEYS, filler, done],
    )
  }
  await pool.query('VACUUM ANALYZE bench.outbox')
  const publisher = createRedisStreamsPublisher({ redis, keyPrefix })
  const logger = pino({ level: 'silent' })
  const relays = Array.from({ length: RELAYS }, () =>
    createOutboxRelay({ pool, schema: 'bench', publisher, batchSize: BATCH, pollIntervalMs: 5, logger }),
  )
  const started = performance.now()
  for (const relay of relays) relay.start()
  while ((await getOutboxStatus({ pool, schema: 'bench' })).pending > 0) await new Promise((r) => setTimeout(r, 20))
  const seconds = (performance.now() - started) / 1000
  await Promise.all(relays.map((relay) => relay.stop()))
  const streamed = await redis.xlen(`${keyPrefix}:orders`)
  process.stdout.write(
    `${JSON.stringify({
      messages: MESSAGES,
      keys: KEYS,
      batch: BATCH,
      relays: RELAYS,
      payloadBytes: PAYLOAD_BYTES,
      seconds: Number(seconds.toFixed(2)),
      messagesPerSecond: Math.round(MESSAGES / seconds),
      streamLength: streamed,
    })}\n`,
  )
} finally {
  await redis.del(`${keyPrefix}:orders`)
  redis.disconnect()
  await pool.end()
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
  await admin.end()
}
