import { randomUUID } from 'node:crypto'
import { type BenchContext, progress, timed } from '../lib/context.js'
import { makeEvent } from '../lib/domain.js'
import { createRedis, createSearch, deleteKeys, runCleanups } from '../lib/services.js'

/** Raw ceilings on Redis (pipelined HSET, pipelined XADD) and on the search engine (bulk index). */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  try {
    progress('raw redis: pipelined HSET / XADD')
    const { client, prefix } = await createRedis('raw_redis')
    const total = s.redisWrites
    await ctx.rate(
      'raw.redis.hset',
      'raw',
      'ev/s',
      (run) =>
        timed(async () => {
          for (let done = 0; done < total; done += 1000) {
            const p = client.pipeline()
            for (let i = done; i < Math.min(total, done + 1000); i++) {
              const e = makeEvent(`acct-${i % 10_000}`, i)
              p.hset(`${prefix}${run}:balance:${e.data.accountId}`, {
                balance: String(e.data.amount),
                version: String(i),
                updatedAt: new Date().toISOString(),
              })
            }
            await p.exec()
          }
          return total
        }),
      { runs: s.longRuns },
    )
    await deleteKeys(client, `${prefix}*`)
    await ctx.rate(
      'raw.redis.xadd',
      'raw',
      'ev/s',
      (run) =>
        timed(async () => {
          const stream = `${prefix}${run}:stream`
          for (let done = 0; done < total; done += 1000) {
            const p = client.pipeline()
            for (let i = done; i < Math.min(total, done + 1000); i++) {
              const e = makeEvent(`acct-${i % 10_000}`, i)
              p.xadd(
                stream,
                '*',
                'id',
                randomUUID(),
                'type',
                e.type,
                'key',
                e.data.accountId,
                'payload',
                JSON.stringify(e.data),
              )
            }
            await p.exec()
          }
          await client.unlink(stream)
          return total
        }),
      { runs: s.longRuns },
    )
  } finally {
    await runCleanups(progress)
  }

  try {
    const search = await createSearch('raw_search')
    if (!search) {
      ctx.skip('raw.search.bulk', 'raw', 'no search engine answers at 127.0.0.1:9200')
      return
    }
    progress(`raw search (${search.engine}): bulk index`)
    const total = s.searchDocs
    await ctx.rate(
      'raw.search.bulk',
      'raw',
      'ev/s',
      (run) =>
        timed(async () => {
          const index = `${search.prefix}-${run + 1}`
          await search.client.indices.create({ index, settings: { number_of_shards: 1, number_of_replicas: 0 } })
          for (let done = 0; done < total; done += 1000) {
            const operations: unknown[] = []
            for (let i = done; i < Math.min(total, done + 1000); i++) {
              const e = makeEvent(`acct-${i % 10_000}`, i)
              operations.push({ index: { _index: index, _id: `acct-${i}` } }, { ...e.data, type: e.type, version: i })
            }
            const res = await search.client.bulk({ operations })
            if (res.errors) throw new Error('bulk index reported errors')
          }
          await search.client.indices.delete({ index })
          return total
        }),
      { runs: s.longRuns },
    )
  } finally {
    await runCleanups(progress)
  }
}
