import { randomUUID } from 'node:crypto'
import { createOutboxRelay, createRedisStreamsPublisher, migrateOutbox, streamKey } from '@annals/outbox'
import { type BenchContext, libraryLogger, progress, timed } from '../lib/context.js'
import { makeEvent } from '../lib/domain.js'
import { createDatabase, createRedis, runCleanups } from '../lib/services.js'

const BATCH = 1000
const TOPIC = 'accounts'

/**
 * Outbox relay throughput to Redis Streams: pending outbox rows (written the way the append writes
 * them: one row per event, partition key = stream id, 100 streams) relayed by `createOutboxRelay`
 * with the Redis Streams publisher, batches of 1,000, until the outbox is empty.
 */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  try {
    const db = await createDatabase('annals_outbox')
    const pool = db.pool(4)
    await migrateOutbox({ pool })
    const redis = await createRedis('annals_outbox')
    const keyPrefix = `${redis.prefix}s`
    const publisher = createRedisStreamsPublisher({ redis: redis.client, keyPrefix })
    const relay = createOutboxRelay({ pool, publisher, batchSize: BATCH, logger: libraryLogger() })
    const seed = async (n: number) => {
      for (let done = 0; done < n; done += 1000) {
        const rows = Math.min(1000, n - done)
        const ids: string[] = []
        const keys: string[] = []
        const types: string[] = []
        const payloads: string[] = []
        for (let i = 0; i < rows; i++) {
          const stream = `acct-${(done + i) % 100}`
          const e = makeEvent(stream, done + i)
          ids.push(randomUUID())
          keys.push(stream)
          types.push(e.type)
          payloads.push(JSON.stringify(e.data))
        }
        await pool.query(
          `INSERT INTO public.outbox (message_id, topic, partition_key, type, payload, headers, event_id)
           SELECT m, $2, k, t, p::jsonb, '{}'::jsonb, m FROM unnest($1::uuid[], $3::text[], $4::text[], $5::text[]) AS x(m, k, t, p)`,
          [ids, TOPIC, keys, types, payloads],
        )
      }
      await pool.query('ANALYZE public.outbox')
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
