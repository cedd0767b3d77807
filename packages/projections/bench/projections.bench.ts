// Rebuild rate (Redis, Postgres) and append-to-visible latency of @annals/projections against the
// real servers. Run from the repository root:
//   node --conditions=@annals/source --import tsx packages/projections/bench/projections.bench.ts [--events 100000] [--samples 500]
import { parseArgs } from 'node:util'
import type { EventStore } from '@annals/core'
import { createProjectionAdmin } from '../src/admin.js'
import { createPostgresPendingCounter } from '../src/postgres-pending-counter.js'
import { defineProjection } from '../src/projection.js'
import { createPostgresSink } from '../src/sinks/postgres-sink.js'
import { createRedisReadModel, createRedisSink } from '../src/sinks/redis-sink.js'
import { createProjectionsTestBed } from '../test/helpers.js'

const { values } = parseArgs({
  options: { events: { type: 'string', default: '100000' }, samples: { type: 'string', default: '500' } },
})
const total = Number(values.events)
const samples = Number(values.samples)
const STREAMS = 1000

type Moved = { account: string; amount: number }

async function seed(store: EventStore) {
  const perAppend = 100
  for (let done = 0; done < total; done += perAppend) {
    const appends = []
    for (let k = 0; k < perAppend / 10; k++) {
      const stream = `acct-${(done / 10 + k) % STREAMS}`
      appends.push({
        streamId: stream,
        events: Array.from({ length: 10 }, (_, i) => ({
          type: i % 4 === 3 ? 'Withdrawn' : 'Deposited',
          data: { account: stream, amount: 10 + i } satisfies Moved,
        })),
      })
    }
    await store.appendToStreams(appends)
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

async function main() {
  const bed = await createProjectionsTestBed('annals_proj_bench')
  const { db, r, store } = bed
  try {
    let t = performance.now()
    await seed(store)
    console.log(`seeded ${total} events in ${((performance.now() - t) / 1000).toFixed(1)} s`)
    await db.pool.query('VACUUM ANALYZE')

    const redisBalances = defineProjection({
      name: 'bench-redis',
      version: 1,
      handles: ['Deposited', 'Withdrawn'],
      sink: createRedisSink({ redis: r.redis, keyPrefix: r.keyPrefix }),
      handlers: {
        Deposited: (e, w) => w.hincrby((e.data as Moved).account, 'balance', (e.data as Moved).amount),
        Withdrawn: (e, w) => w.hincrby((e.data as Moved).account, 'balance', -(e.data as Moved).amount),
      },
    })
    // One balances table per Postgres projection, so the two never share rows.
    const balancesSink = (name: string) =>
      createPostgresSink({
        pool: db.pool,
        schema: 'rm',
        tables: { [name]: (t: string) => `CREATE TABLE ${t} (account text PRIMARY KEY, balance bigint NOT NULL)` },
      })
    const upsert = (t: string) =>
      `INSERT INTO ${t} (account, balance) VALUES ($1, $2) ON CONFLICT (account) DO UPDATE SET balance = ${t}.balance + excluded.balance`
    const pgBalances = defineProjection({
      name: 'bench-pg',
      version: 1,
      handles: ['Deposited', 'Withdrawn'],
      sink: balancesSink('balances'),
      handlers: {
        Deposited: async (e, { client, table }) => {
          await client.query(upsert(table('balances')), [(e.data as Moved).account, (e.data as Moved).amount])
        },
        Withdrawn: async (e, { client, table }) => {
          await client.query(upsert(table('balances')), [(e.data as Moved).account, -(e.data as Moved).amount])
        },
      },
    })

    const pgBatched = defineProjection({
      name: 'bench-pg-batch',
      version: 1,
      handles: ['Deposited', 'Withdrawn'],
      sink: balancesSink('balances_b'),
      // One multi-row upsert per batch instead of one statement per event.
      async applyBatch(events, { client, table }) {
        const t = table('balances_b')
        await client.query(
          `INSERT INTO ${t} (account, balance)
           SELECT account, sum(amount) FROM unnest($1::text[], $2::bigint[]) AS x(account, amount) GROUP BY account
           ON CONFLICT (account) DO UPDATE SET balance = ${t}.balance + excluded.balance`,
          [
            events.map((e) => (e.data as Moved).account),
            events.map((e) => (e.type === 'Deposited' ? 1 : -1) * (e.data as Moved).amount),
          ],
        )
      },
    })

    const admin = createProjectionAdmin({ pool: db.pool })
    for (const projection of [redisBalances, pgBalances, pgBatched]) {
      const runner = bed.runner({
        projections: [projection],
        controlIntervalMs: 200,
        countPending: createPostgresPendingCounter({ pool: db.pool, cap: 10_000 }),
      })
      await runner.start()
      // First build (generation 1, live batches), then a blue/green rebuild (generation 2, rebuild batches).
      t = performance.now()
      await runner.waitUntilIdle({ timeoutMs: 30 * 60_000 })
      const first = performance.now() - t
      t = performance.now()
      await admin.requestRebuild(projection.name)
      while (runner.status()[0]?.liveGeneration !== 2) await new Promise((resolve) => setTimeout(resolve, 5))
      await runner.waitUntilIdle({ timeoutMs: 30 * 60_000 })
      const rebuild = performance.now() - t
      await runner.stop()
      const gen = runner.status()[0]?.liveGeneration
      console.log(
        `${projection.name}: first build ${Math.round((total / first) * 1000)} ev/s (${(first / 1000).toFixed(1)} s); ` +
          `blue/green rebuild to generation ${gen} ${Math.round((total / rebuild) * 1000)} ev/s (${(rebuild / 1000).toFixed(1)} s)`,
      )
    }
    // Sanity: both read models agree with the log.
    const expected = await db.pool.query<{ b: string }>(
      `SELECT sum(CASE WHEN type = 'Deposited' THEN 1 ELSE -1 END * (data->>'amount')::bigint)::text AS b FROM annals.events WHERE stream_id = 'acct-7'`,
    )
    const rm = createRedisReadModel(r.redis, redisBalances)
    const inPg = await db.pool.query<{ balance: string }>(
      `SELECT balance::text FROM rm.balances WHERE account = 'acct-7'`,
    )
    console.log(
      `check acct-7: log ${expected.rows[0]?.b}, redis ${await rm.hget('acct-7', 'balance')}, postgres ${inPg.rows[0]?.balance}`,
    )

    // Append-to-visible latency: one append at a time, timed until the Redis reader sees it.
    const watcher = await bed.watcher()
    const live = bed.runner({
      watcher,
      projections: [redisBalances],
      pollIntervalMs: 1000,
    })
    await live.start()
    await live.waitUntilIdle({ timeoutMs: 60_000 })
    const latencies: number[] = []
    const appends: number[] = []
    for (let i = 1; i <= samples; i++) {
      const t0 = performance.now()
      await store.appendToStream('latency', [{ type: 'Deposited', data: { account: 'latency', amount: 1 } }])
      appends.push(performance.now() - t0)
      while ((await rm.hget('latency', 'balance')) !== String(i)) {
        /* spin on the reader: this is what a client polling the read model sees */
      }
      latencies.push(performance.now() - t0)
    }
    await live.stop()
    await watcher.close()
    latencies.sort((a, b) => a - b)
    appends.sort((a, b) => a - b)
    console.log(
      `append alone: p50 ${percentile(appends, 50).toFixed(2)} ms, p99 ${percentile(appends, 99).toFixed(2)} ms`,
    )
    console.log(
      `append-to-visible (Redis, ${samples} samples): p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, max ${percentile(latencies, 100).toFixed(2)} ms`,
    )
  } finally {
    await bed.close()
  }
}

await main()
process.exit(0)
