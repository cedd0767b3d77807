import { createRedisStreamsPublisher, migrateOutbox, streamKey } from '@annals/outbox'
import { createPostgresEventStore, migrate as migrateStore } from '@annals/store-postgres'
import { newEvents } from '../lib/annals-events.js'
import { ANNALS_SCHEMA } from '../lib/annals-store.js'
import { type BenchContext, progress } from '../lib/context.js'
import { createCountingRelay } from '../lib/relay-run.js'
import { createDatabase, createRedis, runCleanups } from '../lib/services.js'

const BATCH = 1000
const TOPIC = 'accounts'

/**
 * Outbox relay throughput to Redis Streams: pending outbox rows (written by the store's append, one
 * per event, partition key = stream id, 100 streams) relayed by `createOutboxRelay` with the Redis
 * Streams publisher, batches of 1,000: the relay's `start()` loop runs until every row is published
 * and `stop()` has returned (so the last batch is marked sent). Only the relay is timed.
 */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  try {
    const db = await createDatabase('annals_outbox')
    const pool = db.pool(4)
    await migrateStore({ pool, schema: ANNALS_SCHEMA })
    await migrateOutbox({ pool, schema: ANNALS_SCHEMA })
    const redis = await createRedis('annals_outbox')
    const keyPrefix = `${redis.prefix}s`
    const redisPublisher = createRedisStreamsPublisher({ redis: redis.client, keyPrefix })
    const relay = createCountingRelay({ pool, publisher: redisPublisher, batchSize: BATCH })
    // The rows are written the way production writes them: by the append, in its transaction.
    const store = createPostgresEventStore({
      pool,
      schema: ANNALS_SCHEMA,
      outbox: { publish: () => [{ topic: TOPIC }] },
    })
    let seq = 0
    const seed = async (n: number) => {
      for (let done = 0; done < n; done += 100) {
        const id = `acct-${seq++ % 100}`
        await store.appendToStream(id, newEvents(id, 1, Math.min(100, n - done)))
      }
      await pool.query(`ANALYZE ${ANNALS_SCHEMA}.outbox`)
    }
    progress(`annals outbox: relaying ${s.outboxEvents.toLocaleString('en-US')} messages per run`)
    await ctx.rate(
      'outbox.redis',
      'annals',
      'ev/s',
      async () => {
        await redis.client.unlink(streamKey(keyPrefix, TOPIC))
        await seed(s.outboxEvents)
        const r = await relay.drain(s.outboxEvents)
        const len = await redis.client.xlen(streamKey(keyPrefix, TOPIC))
        const { rows } = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${ANNALS_SCHEMA}.outbox WHERE status <> 'sent'`,
        )
        if (r.count !== s.outboxEvents || len !== s.outboxEvents || rows[0]?.n !== 0) {
          throw new Error(
            `relay published ${r.count}, stream holds ${len}, ${rows[0]?.n} rows unsent, expected ${s.outboxEvents}`,
          )
        }
        return r
      },
      { runs: s.longRuns, note: () => `start() loop, batchSize ${BATCH}, 100 partition keys` },
    )
  } finally {
    await runCleanups(progress)
  }
}
