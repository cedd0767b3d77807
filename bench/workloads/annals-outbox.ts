import { createOutboxRelay, createRedisStreamsPublisher, migrateOutbox, streamKey } from '@annals/outbox'
import { createPostgresEventStore, migrate as migrateStore } from '@annals/store-postgres'
import { newEvents } from '../lib/annals-events.js'
import { ANNALS_SCHEMA } from '../lib/annals-store.js'
import { type BenchContext, libraryLogger, progress, timed } from '../lib/context.js'
import { createDatabase, createRedis, runCleanups } from '../lib/services.js'

const BATCH = 1000
const TOPIC = 'accounts'

/**
 * Outbox relay throughput to Redis Streams: pending outbox rows (written by the store's append, one
 * per event, partition key = stream id, 100 streams) relayed by `createOutboxRelay` with the Redis
 * Streams publisher, batches of 1,000, until the outbox is empty. Only the relay is timed.
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
    const publisher = createRedisStreamsPublisher({ redis: redis.client, keyPrefix })
    const relay = createOutboxRelay({
      pool,
      schema: ANNALS_SCHEMA,
      publisher,
      batchSize: BATCH,
      logger: libraryLogger(),
    })
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
        const r = await timed(async () => {
          let published = 0
          for (;;) {
            const batch = await relay.runOnce()
            published += batch.published
            if (batch.failed > 0) throw new Error(`relay reported ${batch.failed} failed messages`)
            if (batch.claimed === 0) break
          }
          return published
        })
        const len = await redis.client.xlen(streamKey(keyPrefix, TOPIC))
        if (r.count !== s.outboxEvents || len !== s.outboxEvents) {
          throw new Error(`relay published ${r.count}, stream holds ${len}, expected ${s.outboxEvents}`)
        }
        return r
      },
      { runs: s.longRuns, note: () => `runOnce() loop, batchSize ${BATCH}, 100 partition keys` },
    )
  } finally {
    await runCleanups(progress)
  }
}
