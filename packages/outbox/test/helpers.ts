import type { OutboundMessage } from '@annals/core'
import { silentLogger } from '@annals/core'
import { outboxTables } from '@annals/store-postgres/outbox'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import { killAllSpawned, testRedis, uniqueKeyPrefix } from '@annals/test-support'
import type { Redis } from 'ioredis'
import type pg from 'pg'
import { afterAll, afterEach, beforeAll } from 'vitest'
import {
  createRedisStreamsConsumer,
  type RedisStreamsConsumer,
  type RedisStreamsConsumerOptions,
} from '../src/redis-streams-consumer.js'
import { createRedisStreamsPublisher } from '../src/redis-streams-publisher.js'
import { createOutboxRelay, type OutboxRelay } from '../src/relay/outbox-relay.js'
import type { OutboxRelayOptions } from '../src/relay/relay-options.js'

/** What one test file works against: its own database and its own Redis key prefix. */
export type Testbed = {
  db: TestDatabase
  redis: Redis & { close(): Promise<void> }
  /** Every Redis key of the file starts with it (cleaned up after the file). */
  keyPrefix: string
}

/**
 * Registers the hooks of one test file: a fresh database and a Redis client before all tests; spawned
 * workers killed after each; everything removed after all. The fields are filled in by `beforeAll`.
 */
export function useTestbed(label: string): Testbed {
  const bed = { keyPrefix: uniqueKeyPrefix(`outbox-${label}`) } as Testbed
  beforeAll(async () => {
    bed.db = await createTestDatabase(`annals_outbox_${label}`, { poolSize: 20 })
    bed.redis = testRedis(bed.keyPrefix)
  })
  afterEach(killAllSpawned)
  afterAll(async () => {
    await killAllSpawned()
    await bed.redis?.close()
    await bed.db?.drop()
  })
  return bed
}

/** A relay on the testbed's pool publishing to Redis Streams under `keyPrefix`, silent unless told otherwise. */
export function relayTo(
  bed: Testbed,
  keyPrefix: string,
  options: Omit<OutboxRelayOptions, 'pool' | 'publisher'> & Partial<Pick<OutboxRelayOptions, 'publisher'>>,
): OutboxRelay {
  return createOutboxRelay({
    logger: silentLogger,
    pool: bed.db.pool,
    publisher: createRedisStreamsPublisher({ redis: bed.redis, keyPrefix }),
    ...options,
  })
}

/** A consumer on the testbed's Redis with short blocking reads, silent unless told otherwise. */
export function consumerOf(
  bed: Testbed,
  options: Omit<RedisStreamsConsumerOptions, 'redis' | 'topic'> & Partial<Pick<RedisStreamsConsumerOptions, 'topic'>>,
): RedisStreamsConsumer {
  return createRedisStreamsConsumer({ redis: bed.redis, topic: 't', blockMs: 20, logger: silentLogger, ...options })
}

/**
 * Inserts outbox rows exactly the way the Postgres event store's append does: only the eight columns
 * it knows, everything else from defaults.
 */
export async function insertOutboxRows(
  db: pg.Pool | pg.PoolClient,
  schema: string,
  messages: readonly (OutboundMessage & { eventId?: string; eventPosition?: bigint })[],
): Promise<void> {
  if (messages.length === 0) return
  const t = outboxTables({ schema })
  await db.query(
    `INSERT INTO ${t.outbox} (message_id, topic, partition_key, type, payload, headers, event_id, event_position)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::uuid[], $8::bigint[])`,
    [
      messages.map((m) => m.messageId),
      messages.map((m) => m.topic),
      messages.map((m) => m.partitionKey),
      messages.map((m) => m.type),
      messages.map((m) => JSON.stringify(m.payload)),
      messages.map((m) => JSON.stringify(m.headers)),
      messages.map((m) => m.eventId ?? m.messageId),
      messages.map((m) => (m.eventPosition ?? 0n).toString()),
    ],
  )
}

/** Reads a whole stream as parsed entries. */
export async function readStream(
  redis: Redis,
  key: string,
): Promise<{ entryId: string; fields: Record<string, string> }[]> {
  const entries = await redis.xrange(key, '-', '+')
  return entries.map(([entryId, flat]) => {
    const fields: Record<string, string> = {}
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string
    return { entryId, fields }
  })
}

/** `key/seq` of each payload in a stream, in stream order. */
export async function keySeqs(redis: Redis, key: string): Promise<string[]> {
  return (await readStream(redis, key)).map((e) => {
    const p = JSON.parse(e.fields.payload ?? '{}') as { key: string; seq: number }
    return `${p.key}/${p.seq}`
  })
}

/** Resolves once the pool's database has a session that ran `LISTEN` (a relay's watcher is in place). */
export function listening(pool: pg.Pool): () => Promise<boolean> {
  return async () =>
    (await pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`))
      .rowCount === 1
}
