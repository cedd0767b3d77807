/**
 * Rebuild rate of an Elasticsearch projection: events per second from the Postgres log into the engine.
 *
 *   node --conditions=@annals/source --import tsx packages/elasticsearch/bench/rebuild.bench.ts \
 *     [--events=20000] [--accounts=1000] [--batch=2000] [--store=postgres|memory]
 *
 * Needs PostgreSQL (DATABASE_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres) and the engine
 * (ELASTICSEARCH_URL, default http://127.0.0.1:9200). Creates a throwaway database and indices under a
 * random prefix, and removes both at the end. Prints one JSON line per phase.
 */
import type { EventStore, LogWatcher, StreamAppend } from '@annals/core'
import { createInMemoryEventStore, createInMemoryLogWatcher } from '@annals/core/in-memory'
import { createProjectionAdmin, createProjectionRunner, migrateProjections } from '@annals/projections'
import { createPostgresEventStore, createPostgresLogWatcher, migrate } from '@annals/store-postgres'
import { createTestDatabase } from '@annals/store-postgres/testing'
import { pino } from 'pino'
import { createElasticsearchSink } from '../src/sink/create-elasticsearch-sink.js'
import { type AccountDoc, accountMappings, accountsProjection } from '../test/accounts.js'
import { createTestEngine } from '../test/support.js'

function arg(name: string, fallback: string): string {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`))
  return hit ? hit.slice(name.length + 3) : fallback
}

const events = Number(arg('events', '20000'))
const accounts = Number(arg('accounts', '1000'))
const batch = Number(arg('batch', '2000'))
const storeKind = arg('store', 'postgres')
const silent = pino({ level: 'silent' })

async function main(): Promise<void> {
  const db = await createTestDatabase('annals_es_bench')
  const engine = await createTestEngine()
  let watcher: LogWatcher | null = null
  try {
    await migrateProjections({ pool: db.pool })
    let store: EventStore
    if (storeKind === 'memory') {
      const memory = createInMemoryEventStore()
      store = memory
      watcher = createInMemoryLogWatcher(memory)
    } else {
      await migrate({ pool: db.pool })
      store = createPostgresEventStore({ pool: db.pool })
      watcher = createPostgresLogWatcher({ pool: db.pool })
    }
    // Seed: one Opened per account, then deposits round-robin, 500 events per append transaction.
    const seedStart = performance.now()
    const pending: { streamId: string; type: string; data: object }[] = []
    for (let i = 0; i < events; i++) {
      const account = i % accounts
      pending.push(
        i < accounts
          ? { streamId: `acc-${account}`, type: 'Opened', data: { owner: `owner-${account}` } }
          : { streamId: `acc-${account}`, type: 'Deposited', data: { amount: (i % 97) + 1 } },
      )
    }
    for (let i = 0; i < pending.length; i += 500) {
      const byStream = new Map<string, StreamAppend>()
      for (const e of pending.slice(i, i + 500)) {
        const prev = byStream.get(e.streamId)
        const events = [...(prev?.events ?? []), { type: e.type, data: e.data }]
        byStream.set(e.streamId, { streamId: e.streamId, events })
      }
      await store.appendToStreams([...byStream.values()])
    }
    const seedMs = performance.now() - seedStart

    const sink = createElasticsearchSink<AccountDoc>({
      client: engine.client,
      indexPrefix: engine.indexPrefix,
      mappings: accountMappings,
      logger: silent,
    })
    const projection = accountsProjection('bench_accounts', 1, sink)
    const runner = createProjectionRunner({
      pool: db.pool,
      store,
      watcher,
      projections: [projection],
      logger: silent,
      rebuildBatchSize: batch,
      batchSize: batch,
      pollIntervalMs: 100,
      controlIntervalMs: 100,
    })
    const admin = createProjectionAdmin({ pool: db.pool })
    const buildStart = performance.now()
    await runner.start()
    try {
      await runner.waitUntilIdle({ timeoutMs: 30 * 60_000 })
      const buildMs = performance.now() - buildStart

      const rebuildStart = performance.now()
      await admin.requestRebuild('bench_accounts')
      for (;;) {
        const s = (await admin.status()).find((x) => x.name === 'bench_accounts')
        if (s && s.liveGeneration === 2 && s.building === null) break
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      const rebuildMs = performance.now() - rebuildStart
      const line = {
        engine: process.env.SEARCH_ENGINE ?? 'auto',
        store: storeKind,
        events,
        accounts,
        batch,
        seedSeconds: +(seedMs / 1000).toFixed(2),
        firstBuild: { seconds: +(buildMs / 1000).toFixed(2), eventsPerSecond: Math.round(events / (buildMs / 1000)) },
        rebuild: { seconds: +(rebuildMs / 1000).toFixed(2), eventsPerSecond: Math.round(events / (rebuildMs / 1000)) },
      }
      process.stdout.write(`${JSON.stringify(line)}\n`)
    } finally {
      await runner.stop()
    }
  } finally {
    await watcher?.close()
    await engine.cleanup()
    await db.drop()
  }
}

await main()
