import { randomBytes } from 'node:crypto'
import { createKafkaConsumer, createKafkaPublisher, KafkaHeaders } from '@annals/kafka'
import { migrateOutbox } from '@annals/outbox'
import { createPostgresEventStore, migrate as migrateStore } from '@annals/store-postgres'
import {
  Admin,
  Consumer,
  type Message,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka'
import { z } from 'zod'
import { newEvents } from '../lib/annals-events.js'
import { ANNALS_SCHEMA, NotAvailableError } from '../lib/annals-store.js'
import { type BenchContext, libraryLogger, progress, timed } from '../lib/context.js'
import { createCountingRelay, within } from '../lib/relay-run.js'
import { createDatabase, onCleanup, runCleanups } from '../lib/services.js'

const BATCH = 1000
const KEYS = 100
const PARTITIONS = 6

/**
 * Kafka: the outbox relay with the Kafka publisher beside the raw producer of the same client
 * (`@platformatic/kafka`, idempotent, acks = all, batches of 1,000, 100 keys, the same JSON payloads),
 * alternating runs; then consumer throughput of an `@annals/kafka` group of 1, 2 and 3 members (zod
 * validation, inbox transaction per message, coalesced commits) beside a raw consumer loop doing the
 * same per-message work by hand (BEGIN, INSERT the message id, COMMIT; commit offsets every 1,000).
 * Skipped with the reason when `KAFKA_BROKERS` is not set.
 */
export async function run(ctx: BenchContext): Promise<void> {
  const brokers = process.env.KAFKA_BROKERS
  if (!brokers) throw new NotAvailableError('KAFKA_BROKERS is not set (bash scripts/engines.sh kafka-start)')
  const bootstrapBrokers = brokers.split(',')
  const n = ctx.sizes.outboxEvents
  const runId = randomBytes(3).toString('hex')
  const admin = new Admin({ clientId: 'bench', bootstrapBrokers })
  onCleanup(() => admin.close())
  const topics: string[] = []
  const newTopic = async (label: string) => {
    const topic = `bench-${label}-${runId}-${topics.length}`
    await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 })
    topics.push(topic)
    return topic
  }
  onCleanup(async () => {
    if (topics.length) await admin.deleteTopics({ topics }).catch(() => undefined)
  })
  try {
    const db = await createDatabase('annals_kafka')
    const pool = db.pool(6)
    await migrateStore({ pool, schema: ANNALS_SCHEMA })
    await migrateOutbox({ pool, schema: ANNALS_SCHEMA })
    let relayTopic = ''
    const store = createPostgresEventStore({
      pool,
      schema: ANNALS_SCHEMA,
      outbox: { publish: (e) => [{ topic: relayTopic, payload: e.data }] },
    })
    // The same payloads for both sides: what the store writes to the outbox.
    const payloads = newEvents('acct-0', 1, BATCH).map((e) => JSON.stringify(e.data))

    const producer = new Producer<string, string, string, string>({
      clientId: 'bench-raw',
      bootstrapBrokers,
      serializers: stringSerializers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    })
    onCleanup(() => producer.close())
    const publisher = createKafkaPublisher({ brokers, logger: libraryLogger() })
    onCleanup(() => publisher.close())
    const relay = createCountingRelay({ pool, publisher, batchSize: BATCH })

    progress(`kafka: relay vs raw producer, ${n.toLocaleString('en-US')} messages per run`)
    await ctx.paired([
      {
        id: 'raw.kafka.produce',
        system: 'raw',
        unit: 'ev/s',
        fn: async () => {
          const topic = await newTopic('raw')
          return timed(async () => {
            for (let done = 0; done < n; done += BATCH) {
              const size = Math.min(BATCH, n - done)
              await producer.send({
                messages: Array.from({ length: size }, (_, i) => ({
                  topic,
                  key: `acct-${(done + i) % KEYS}`,
                  value: payloads[i % payloads.length] ?? '{}',
                  headers: { [KafkaHeaders.messageId]: `${done + i}`, [KafkaHeaders.type]: 'Deposited' },
                })),
              })
            }
            return n
          })
        },
      },
      {
        id: 'kafka.relay',
        system: 'annals',
        unit: 'ev/s',
        note: () => `start() loop, batchSize ${BATCH}, ${KEYS} keys, ${PARTITIONS} partitions`,
        fn: async () => {
          relayTopic = await newTopic('relay')
          for (let done = 0; done < n; done += 100) {
            const id = `acct-${(done / 100) % KEYS}`
            await store.appendToStream(id, newEvents(id, 1, Math.min(100, n - done)))
          }
          await pool.query(`ANALYZE ${ANNALS_SCHEMA}.outbox`)
          return relay.drain(n)
        },
      },
    ])

    // Consumer side: one topic filled once, read again by a fresh group per run.
    const consumerTopic = await newTopic('consume')
    const m = Math.min(n, 5_000)
    for (let done = 0; done < m; done += BATCH) {
      const size = Math.min(BATCH, m - done)
      await producer.send({
        messages: Array.from({ length: size }, (_, i) => ({
          topic: consumerTopic,
          key: `acct-${(done + i) % KEYS}`,
          value: JSON.stringify({ accountId: `acct-${(done + i) % KEYS}`, amount: done + i }),
          headers: { [KafkaHeaders.messageId]: `${runId}-${done + i}`, [KafkaHeaders.type]: 'Deposited' },
        })),
      })
    }
    await pool.query(
      `CREATE TABLE IF NOT EXISTS ${ANNALS_SCHEMA}.raw_inbox (consumer text, message_id text, PRIMARY KEY (consumer, message_id))`,
    )
    progress(`kafka: consumers, ${m.toLocaleString('en-US')} messages per run`)
    let runNo = 0
    const annalsGroup = (members: number) => async () => {
      const group = `bench-g${members}-${runId}-${runNo++}`
      let handled = 0
      let done: () => void = () => undefined
      const all = new Promise<void>((resolve) => {
        done = resolve
      })
      const consumers = Array.from({ length: members }, () =>
        createKafkaConsumer({
          brokers,
          group,
          topics: [consumerTopic],
          inbox: { pool, schema: ANNALS_SCHEMA },
          maxWaitTimeMs: 100,
          logger: libraryLogger(),
          onOutcome: () => {
            if (++handled >= m) done()
          },
          handlers: {
            Deposited: {
              schema: z.object({ accountId: z.string(), amount: z.number() }),
              handle: async () => undefined,
            },
          },
        }),
      )
      return timed(async () => {
        await Promise.all(consumers.map((c) => c.start()))
        try {
          await within(all, () => `group of ${members} handled ${handled} of ${m}`)
        } finally {
          await Promise.all(consumers.map((c) => c.stop()))
        }
        return handled
      })
    }
    await ctx.paired([
      {
        id: 'raw.kafka.consume',
        system: 'raw',
        unit: 'ev/s',
        fn: async () => {
          const group = `bench-raw-${runId}-${runNo++}`
          const consumer = new Consumer<string, string, string, string>({
            clientId: 'bench-raw',
            groupId: group,
            bootstrapBrokers,
            deserializers: stringDeserializers,
            maxWaitTime: 100,
            autocommit: false,
          })
          return timed(async () => {
            let handled = 0
            const stream = await consumer.consume({
              topics: [consumerTopic],
              mode: 'committed',
              fallbackMode: 'earliest',
            })
            const last = new Map<number, bigint>()
            for await (const r of stream as AsyncIterable<Message<string, string, string, string>>) {
              const id = r.headers.get(KafkaHeaders.messageId)
              JSON.parse(r.value ?? 'null')
              const client = await pool.connect()
              try {
                await client.query('BEGIN')
                await client.query(`INSERT INTO ${ANNALS_SCHEMA}.raw_inbox VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
                  group,
                  id,
                ])
                await client.query('COMMIT')
              } finally {
                client.release()
              }
              last.set(r.partition, r.offset + 1n)
              if (++handled % BATCH === 0 || handled >= m) {
                await consumer.commit({
                  offsets: [...last].map(([partition, offset]) => ({
                    topic: consumerTopic,
                    partition,
                    offset,
                    leaderEpoch: -1,
                  })),
                })
              }
              if (handled >= m) break
            }
            await stream.close()
            await consumer.close()
            return handled
          })
        },
      },
      { id: 'kafka.consume.1', system: 'annals', unit: 'ev/s', fn: annalsGroup(1), note: () => 'inbox tx per message' },
      { id: 'kafka.consume.2', system: 'annals', unit: 'ev/s', fn: annalsGroup(2), note: () => 'inbox tx per message' },
      { id: 'kafka.consume.3', system: 'annals', unit: 'ev/s', fn: annalsGroup(3), note: () => 'inbox tx per message' },
    ])
  } finally {
    await runCleanups(progress)
  }
}
