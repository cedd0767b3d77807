import { randomBytes } from 'node:crypto'
import {
  createInMemoryEventStore,
  createInMemoryIdempotencyStore,
  createInMemorySnapshotStore,
} from '@annals/core/in-memory'
import { createPostgresEventStore } from '@annals/store-postgres'
import { Redis } from 'ioredis'
import pg from 'pg'
import { assembleBank, type Bank } from '../src/compose.js'
import { inMemoryReadSide } from '../src/embedded.js'
import { postgresWriteSide } from '../src/postgres-write-side.js'
import { serverParts } from '../src/servers.js'
import { countEvents } from './helpers.js'

/** A bank for one test file, on the real servers, with its own database, key prefix and indexes. */
export type BankUnderTest = Bank &
  Readonly<{
    projectionsIdle(): Promise<void>
    /** Every event stored, counted in the store itself (the global log's reader may lag behind commits). */
    countEvents(): Promise<number>
    /** The Redis key prefix of this bank (null on the in-memory adapters). */
    redisKeyPrefix: string | null
    /** The bank's own database (null on the in-memory adapters). */
    databaseUrl: string | null
  }>

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const ELASTICSEARCH_URL = process.env.ELASTICSEARCH_URL

/** `BANK_TEST_MODE=memory` runs the same tests on core's in-memory adapters (a quick local loop). */
const MEMORY = process.env.BANK_TEST_MODE === 'memory'

/**
 * Starts a bank for one test file. `name` goes into the database name, key prefix and index prefix;
 * `redisUrl` points the bank at another Redis (one that is down, say).
 */
export async function startBank(name: string, options: Readonly<{ redisUrl?: string }> = {}): Promise<BankUnderTest> {
  if (MEMORY) {
    const store = createInMemoryEventStore()
    const bank = await assembleBank({
      mode: 'in-memory',
      store,
      snapshots: createInMemorySnapshotStore(),
      idempotency: createInMemoryIdempotencyStore(),
      readSide: inMemoryReadSide(store, 20),
    })
    await bank.readSide.start()
    return {
      ...bank,
      projectionsIdle: () => bank.readSide.idle(),
      countEvents: () => countEvents(store),
      redisKeyPrefix: null,
      databaseUrl: null,
    }
  }
  const suffix = `${name.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`
  const database = `annals_bank_${suffix}`
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE "${database}"`)
  await admin.end()
  const url = new URL(ADMIN_URL)
  url.pathname = `/${database}`
  const keyPrefix = `bank-test:${suffix}:`
  const indexPrefix = `bank-test-${suffix.replace(/_/g, '-')}-`
  let parts: Awaited<ReturnType<typeof serverParts>>
  try {
    parts = await serverParts(
      {
        databaseUrl: url.toString(),
        redisUrl: options.redisUrl ?? REDIS_URL,
        elasticsearchUrl: ELASTICSEARCH_URL,
        redisKeyPrefix: keyPrefix,
        indexPrefix,
        pollIntervalMs: 50,
      },
      (pool, outbox) => postgresWriteSide(pool, outbox),
    )
  } catch (error) {
    // A bank that failed to start must not leave its database behind.
    await cleanUp(database, keyPrefix, indexPrefix)
    throw error
  }
  const bank = await assembleBank(parts)
  await bank.readSide.start()
  return {
    ...bank,
    projectionsIdle: () => bank.readSide.idle(),
    redisKeyPrefix: keyPrefix,
    databaseUrl: url.toString(),
    async countEvents() {
      const pool = new pg.Pool({ connectionString: url.toString(), max: 1 })
      try {
        return await createPostgresEventStore({ pool, schema: 'bank' }).countEvents()
      } finally {
        await pool.end()
      }
    },
    async close() {
      await bank.close()
      await cleanUp(database, keyPrefix, indexPrefix)
    },
  }
}

async function cleanUp(database: string, keyPrefix: string, indexPrefix: string): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
  await admin.end()
  const redis = new Redis(REDIS_URL)
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await redis.unlink(...keys)
  } while (cursor !== '0')
  await redis.quit()
  if (ELASTICSEARCH_URL) {
    const response = await fetch(`${ELASTICSEARCH_URL}/${indexPrefix}*?expand_wildcards=all`, { method: 'DELETE' })
    await response.arrayBuffer()
  }
}
