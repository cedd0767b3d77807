import { createElasticsearchSink, defineElasticsearchProjection } from '@annals/elasticsearch'
import { createRedisReadModel, createRedisSink, migrateProjections } from '@annals/projections'
import { Deposited, Withdrawn } from '../lib/annals-domain.js'
import { seedLog, waitForFence } from '../lib/annals-events.js'
import {
  balancesTable,
  PROJECTIONS_SCHEMA,
  placeholder,
  postgresBalances,
  redisBalances,
  timedRebuild,
} from '../lib/annals-projections.js'
import { ANNALS_SCHEMA, openAnnals } from '../lib/annals-store.js'
import { type BenchContext, libraryLogger, progress } from '../lib/context.js'
import { evolve, initialState, makeEvents } from '../lib/domain.js'
import { createDatabase, createRedis, createSearch, runCleanups } from '../lib/services.js'
import { summarize } from '../lib/stats.js'

/** The balance of `acct-0` after `seedLog(total)` (the check every rebuild must reproduce). */
function expectedBalance(total: number): number {
  const perStream = Math.max(1, Math.ceil(total / 100))
  let state = initialState()
  for (const e of makeEvents('acct-0', 1, Math.min(perStream, total))) state = evolve(state, e)
  return state.balance
}

/**
 * Projection rebuild rate: a version bump makes the runner build a new generation from event zero
 * beside the live one and switch to it; timed from the runner's start until the new generation is
 * live, over the whole log (1,000,000 events in full mode).
 */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  const total = s.rebuildEvents
  const runs = s.rebuildRuns
  try {
    const db = await createDatabase('annals_rebuild')
    const { store, pool, watcher } = await openAnnals(db, 6)
    await migrateProjections({ pool, schema: PROJECTIONS_SCHEMA })
    progress(`annals rebuild: appending ${total.toLocaleString('en-US')} events`)
    await seedLog(store, total, 'annals rebuild')
    await pool.query('VACUUM ANALYZE')
    const expected = expectedBalance(total)
    const base = { pool, store, total, ...(watcher ? { watcher } : {}) }
    const note = `${total.toLocaleString('en-US')} events`

    const redis = await createRedis('annals_rebuild')
    const redisRates: number[] = []
    for (let run = 1; run <= runs; run++) {
      const sink = createRedisSink({ redis: redis.client, keyPrefix: redis.prefix })
      const name = `bal-redis-${run}`
      const projection = redisBalances(name, sink)
      await waitForFence(pool, ANNALS_SCHEMA)
      const ms = await timedRebuild({ ...base, placeholder: placeholder(name, sink), projection })
      const balance = await createRedisReadModel(redis.client, projection).hget('acct-0', 'balance')
      if (Number(balance) !== expected)
        throw new Error(`redis rebuild: acct-0 balance ${balance}, expected ${expected}`)
      redisRates.push((total / ms) * 1000)
    }
    ctx.record('rebuild.redis', 'annals', 'ev/s', summarize(redisRates), note)

    const pgRates: number[] = []
    for (let run = 1; run <= runs; run++) {
      const sink = balancesTable(pool, `bal_r${run}`)
      const name = `bal-pg-${run}`
      const projection = postgresBalances(name, sink, `bal_r${run}`)
      await waitForFence(pool, ANNALS_SCHEMA)
      const ms = await timedRebuild({ ...base, placeholder: placeholder(name, sink), projection })
      const row = await pool.query<{ balance: string }>(
        `SELECT balance::text FROM read_models.bal_r${run} WHERE account_id = 'acct-0'`,
      )
      if (Number(row.rows[0]?.balance) !== expected) {
        throw new Error(`postgres rebuild: acct-0 balance ${row.rows[0]?.balance}, expected ${expected}`)
      }
      pgRates.push((total / ms) * 1000)
    }
    ctx.record('rebuild.postgres', 'annals', 'ev/s', summarize(pgRates), note)

    const search = await createSearch('annals_rebuild')
    if (!search) {
      ctx.skip('rebuild.search', 'annals', 'no search engine answers at 127.0.0.1:9200')
      return
    }
    progress(`annals rebuild: search engine ${search.engine}`)
    const sink = createElasticsearchSink<{ accountId: string; balance: number }>({
      client: search.client,
      indexPrefix: `${search.prefix}-`,
      logger: libraryLogger(),
    })
    const esRates: number[] = []
    for (let run = 1; run <= runs; run++) {
      const name = `bal-es-${run}`
      const projection = defineElasticsearchProjection({
        name,
        version: 2,
        handles: [Deposited, Withdrawn],
        sink,
        handlers: {
          Deposited: (e, es) =>
            es.update(e, e.data.accountId, (a) => ({
              accountId: e.data.accountId,
              balance: (a?.balance ?? 0) + e.data.amount,
            })),
          Withdrawn: (e, es) =>
            es.update(e, e.data.accountId, (a) => ({
              accountId: e.data.accountId,
              balance: (a?.balance ?? 0) - e.data.amount,
            })),
        },
      })
      await waitForFence(pool, ANNALS_SCHEMA)
      const ms = await timedRebuild({ ...base, placeholder: placeholder(name, sink), projection })
      const doc = await search.client.get<{ balance: number }>({ index: sink.aliasOf(projection.name), id: 'acct-0' })
      if (doc._source?.balance !== expected) {
        throw new Error(`search rebuild: acct-0 balance ${doc._source?.balance}, expected ${expected}`)
      }
      esRates.push((total / ms) * 1000)
    }
    ctx.record('rebuild.search', 'annals', 'ev/s', summarize(esRates), `${note}, ${search.engine}`)
  } finally {
    await runCleanups(progress)
  }
}
