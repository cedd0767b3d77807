import { randomBytes, randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { migrateOutbox } from '@annals/outbox'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import { killAllSpawned, type SpawnedProcess, spawnTs } from '@annals/test-support'
import { Admin, Consumer, type Message, stringDeserializers } from '@platformatic/kafka'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { createKafkaPublisher } from '../src/kafka-publisher.js'

/** The test broker (scripts/engines.sh kafka-start; scripts/test-all.sh exports it). */
export const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'
const bootstrapBrokers = BROKERS.split(',')

/** A topic or group name no other test (or run) uses. */
export function unique(label: string): string {
  return `${label}-${process.pid}-${randomBytes(3).toString('hex')}`
}

/** One test file's database, with spawned workers killed after each test and everything dropped after the file. */
export function useDatabase(label: string): { db: TestDatabase } {
  const bed = {} as { db: TestDatabase }
  beforeAll(async () => {
    bed.db = await createTestDatabase(`annals_kafka_${label}`, { poolSize: 20 })
  })
  afterEach(killAllSpawned)
  afterAll(async () => {
    await killAllSpawned()
    await bed.db?.drop()
  })
  return bed
}

/** Effects table of the test consumers: one row per applied message, in the order applied. */
export async function setupConsumerSchema(db: TestDatabase, schema: string): Promise<void> {
  await migrateOutbox({ pool: db.pool, schema })
  await db.pool.query(`CREATE TABLE ${schema}.effects (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, grp text NOT NULL, message_id text NOT NULL,
    key text, seq int, worker text)`)
}

export async function createTopic(topic: string, partitions: number): Promise<void> {
  const admin = new Admin({ clientId: 'test-setup', bootstrapBrokers })
  try {
    await admin.createTopics({ topics: [topic], partitions, replicas: 1 })
  } finally {
    await admin.close()
  }
}

export type ReadRecord = Readonly<{
  partition: number
  offset: bigint
  key: string | undefined
  value: string | undefined
  headers: Record<string, string>
}>

/** Every record of a topic, from the start to the end it had when called (no group offsets touched). */
export async function readTopic(topic: string): Promise<ReadRecord[]> {
  const admin = new Admin({ clientId: 'test-read', bootstrapBrokers })
  let ends: Map<number, bigint>
  try {
    const md = await admin.metadata({ topics: [topic] })
    const count = md.topics.get(topic)?.partitionsCount ?? 0
    const listed = await admin.listOffsets({
      topics: [
        { name: topic, partitions: Array.from({ length: count }, (_, p) => ({ partitionIndex: p, timestamp: -1n })) },
      ],
    })
    ends = new Map(listed[0]?.partitions.filter((p) => p.offset > 0n).map((p) => [p.partitionIndex, p.offset]))
  } finally {
    await admin.close()
  }
  if (ends.size === 0) return []
  const consumer = new Consumer<string, string, string, string>({
    clientId: 'test-read',
    groupId: unique('reader'),
    bootstrapBrokers,
    deserializers: stringDeserializers,
    maxWaitTime: 200,
  })
  const records: ReadRecord[] = []
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false })
    for await (const m of stream as AsyncIterable<Message<string, string, string, string>>) {
      records.push({
        partition: m.partition,
        offset: m.offset,
        key: m.key ?? undefined,
        value: m.value ?? undefined,
        headers: Object.fromEntries(m.headers),
      })
      const end = ends.get(m.partition)
      if (end !== undefined && m.offset + 1n >= end) ends.delete(m.partition)
      if (ends.size === 0) break
    }
    await stream.close()
  } finally {
    await consumer.close()
  }
  return records.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : 1))
}

/** Spawns one of `test/workers/*.ts`. */
export function spawnWorker(script: string, env: Record<string, string>): SpawnedProcess {
  return spawnTs(fileURLToPath(new URL(`./workers/${script}`, import.meta.url)), {
    env: { KAFKA_BROKERS: BROKERS, ...env },
  })
}

/** Publishes `Stepped` messages `{ key, seq }` the way the outbox relay does (through the Kafka publisher). */
export async function publishSteps(
  topic: string,
  steps: readonly Readonly<{ key: string; seq: number; extra?: Record<string, unknown> }>[],
): Promise<string[]> {
  const publisher = createKafkaPublisher({ brokers: BROKERS })
  const ids = steps.map(() => randomUUID())
  try {
    await publisher.publish(
      steps.map((s, i) => ({
        messageId: ids[i] ?? randomUUID(),
        topic,
        partitionKey: s.key,
        type: 'Stepped',
        payload: { key: s.key, seq: s.seq, ...s.extra },
        headers: {},
      })),
    )
  } finally {
    await publisher.close()
  }
  return ids
}

/** Rows of the effects table of one group, in the order they were applied. */
export async function effectsOf(db: TestDatabase, schema: string, group: string) {
  const { rows } = await db.pool.query<{ message_id: string; key: string; seq: number; worker: string }>(
    `SELECT message_id, key, seq, worker FROM ${schema}.effects WHERE grp = $1 ORDER BY id`,
    [group],
  )
  return rows
}
