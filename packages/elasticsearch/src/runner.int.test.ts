import type { EventStore, LogWatcher } from '@annals/core'
import { createProjectionAdmin, createProjectionRunner, migrateProjections } from '@annals/projections'
import { createPostgresEventStore, createPostgresLogWatcher, migrate } from '@annals/store-postgres'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import { waitFor } from '@annals/test-support'
import type { Client } from '@elastic/elasticsearch'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AccountDoc, type AccountEvent, accountMappings, accountsProjection } from '../test/accounts.js'
import { createTestEngine } from '../test/support.js'
import { createSearch } from './search.js'
import { createElasticsearchSink, type ElasticsearchSink } from './sink/create-elasticsearch-sink.js'

const silent = pino({ level: 'silent' })

describe('Elasticsearch projections in the runner (real Postgres, real engine)', () => {
  let db: TestDatabase
  let engine: Awaited<ReturnType<typeof createTestEngine>>
  let client: Client
  let sink: ElasticsearchSink<AccountDoc>
  beforeAll(async () => {
    db = await createTestDatabase('annals_es')
    await migrateProjections({ pool: db.pool })
    engine = await createTestEngine()
    client = engine.client
    sink = createElasticsearchSink<AccountDoc>({
      client,
      indexPrefix: engine.indexPrefix,
      mappings: accountMappings,
      logger: silent,
    })
  })
  const watchers: LogWatcher[] = []
  afterAll(async () => {
    for (const w of watchers) await w.close()
    await engine?.cleanup()
    await db?.drop()
  })

  /** A Postgres event store in its own schema, so each test replays only its own log. */
  async function newStore(schema: string) {
    await migrate({ pool: db.pool, schema })
    const store = createPostgresEventStore({ pool: db.pool, schema })
    const watcher = createPostgresLogWatcher({ pool: db.pool, schema })
    watchers.push(watcher)
    return { store, watcher }
  }

  function runnerFor(
    store: EventStore,
    watcher: LogWatcher,
    projections: Parameters<typeof createProjectionRunner>[0]['projections'],
  ) {
    return createProjectionRunner({
      pool: db.pool,
      store,
      watcher,
      projections,
      logger: silent,
      pollIntervalMs: 50,
      controlIntervalMs: 100,
      batchSize: 100,
      rebuildBatchSize: 100,
      retry: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
    })
  }

  it('parks the events of a document the engine rejects with its reason and applies the rest of the batch', async () => {
    const { store, watcher } = await newStore('log_dl')
    const projection = accountsProjection('dl_accounts', 1, sink)
    for (let i = 0; i < 5; i++) {
      await store.appendToStream<AccountEvent>(`acc-${i}`, [
        { type: 'Opened', data: { owner: `o${i}`, ...(i === 2 ? { openedAt: 'not a date' } : {}) } },
        { type: 'Deposited', data: { amount: 10 } },
      ])
    }
    const runner = runnerFor(store, watcher, [projection])
    await runner.start()
    try {
      await runner.waitUntilIdle({ timeoutMs: 30_000 })
      const reader = createSearch(client, projection)
      // Searches see writes after the engine's refresh (1 s by default).
      const all = await waitFor('the documents to be searchable', async () => {
        const page = await reader.search({ size: 100, sort: [{ id: 'asc' }] })
        return page.total === 4 ? page : null
      })
      expect(all.ids).toEqual(['acc-0', 'acc-1', 'acc-3', 'acc-4'])
      expect(all.hits.every((a) => a.balance === 10 && a.deposits === 1)).toBe(true)
      const admin = createProjectionAdmin({ pool: db.pool })
      const letters = await admin.listDeadLetters({ projection: 'dl_accounts' })
      // Both events that wrote the refused document are parked, as failed, with the engine's reason.
      expect(letters.map((l) => [l.streamId, l.streamVersion, l.reason])).toEqual([
        ['acc-2', 1n, 'failed'],
        ['acc-2', 2n, 'failed'],
      ])
      expect(letters[0]?.error).toMatch(/ANNALS_ES_ERR_DOCUMENT_REJECTED|rejected/)
      expect(letters[0]?.error).toMatch(/openedAt/)
      // Later events of that stream wait behind the dead letters; other streams flow on.
      await store.appendToStream<AccountEvent>('acc-2', [{ type: 'Deposited', data: { amount: 1 } }])
      await store.appendToStream<AccountEvent>('acc-0', [{ type: 'Deposited', data: { amount: 1 } }])
      await waitFor('acc-0 to move on', async () => (await reader.get('acc-0'))?.balance === 11)
      const parked = await waitFor('the blocked event to be parked', async () => {
        const l = await admin.listDeadLetters({ projection: 'dl_accounts' })
        return l.length === 3 ? l : null
      })
      expect(parked[2]).toMatchObject({ streamId: 'acc-2', streamVersion: 3n, reason: 'blocked' })
    } finally {
      await runner.stop()
    }
  })

  it('rebuilds into a new index while events are appended and a reader queries the alias: no failed or empty read', async () => {
    const { store, watcher } = await newStore('log_rb')
    const accounts = 20
    for (let i = 0; i < accounts; i++) {
      await store.appendToStream<AccountEvent>(`acc-${String(i).padStart(2, '0')}`, [
        { type: 'Opened', data: { owner: `o${i}` } },
      ])
    }
    // Enough history that the rebuild takes many batches.
    for (let round = 0; round < 50; round++) {
      await store.appendToStreams(
        Array.from({ length: accounts }, (_, i) => ({
          streamId: `acc-${String(i).padStart(2, '0')}`,
          events: [{ type: 'Deposited', data: { amount: round + i } }],
        })),
      )
    }
    const projection = accountsProjection('rb_accounts', 1, sink)
    const runner = runnerFor(store, watcher, [projection])
    const admin = createProjectionAdmin({ pool: db.pool })
    const reader = createSearch(client, projection)
    await runner.start()
    let writing = true
    let reading = true
    const failures: string[] = []
    let reads = 0
    try {
      await runner.waitUntilIdle({ timeoutMs: 60_000 })
      expect(await sink.liveGeneration({ projection: 'rb_accounts', schema: 'annals' })).toBe(1)
      // The first build is visible after the engine's refresh; the claim is about what follows.
      await waitFor('generation 1 to be searchable', async () => (await reader.search({ size: 0 })).total === accounts)

      const writer = (async () => {
        let n = 0
        // Bounded, so a slow (shared) machine still lets the rebuild catch up.
        while (writing && n < 600) {
          const id = `acc-${String(n % accounts).padStart(2, '0')}`
          await store.appendToStream<AccountEvent>(id, [{ type: 'Deposited', data: { amount: 1 } }])
          n++
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
        return n
      })()
      const readerLoop = (async () => {
        while (reading) {
          try {
            const page = await reader.search({ size: 5, sort: [{ balance: 'desc' }] })
            if (page.total !== accounts || page.hits.length !== 5)
              failures.push(`total ${page.total}, ${page.hits.length} hits`)
            const one = await reader.get('acc-07')
            if (one === null) failures.push('acc-07 missing')
          } catch (error) {
            failures.push(String(error))
          }
          reads++
        }
      })()

      await admin.requestRebuild('rb_accounts')
      await waitFor(
        'the rebuild to go live',
        async () => {
          const s = (await admin.status()).find((x) => x.name === 'rb_accounts')
          return s && s.liveGeneration === 2 && s.building === null
        },
        150_000,
      )
      await new Promise((resolve) => setTimeout(resolve, 300))
      writing = false
      const appended = await writer
      await runner.waitUntilIdle({ timeoutMs: 60_000 })
      reading = false
      await readerLoop

      expect(appended).toBeGreaterThan(0)
      expect(reads).toBeGreaterThan(20)
      expect(failures).toEqual([])
      expect(await sink.liveGeneration({ projection: 'rb_accounts', schema: 'annals' })).toBe(2)
      expect(await client.indices.exists({ index: sink.indexOf('rb_accounts', 1) })).toBe(false)

      // The new index equals a fresh replay of the whole log…
      const fresh = accountsProjection('rb_fresh', 1, sink)
      const replay = runnerFor(store, watcher, [fresh])
      await replay.start()
      try {
        await replay.waitUntilIdle({ timeoutMs: 60_000 })
      } finally {
        await replay.stop()
      }
      // Make the last writes of both indexes searchable before comparing them.
      await client.indices.refresh({ index: [reader.alias, sink.aliasOf('rb_fresh')] })
      const rebuilt = await reader.search({ size: 100, sort: [{ id: 'asc' }] })
      const replayed = await createSearch(client, fresh).search({ size: 100, sort: [{ id: 'asc' }] })
      expect(rebuilt).toEqual(replayed)
      // …and the log itself.
      const expected = new Map<string, number>()
      let after: Parameters<EventStore['readAll']>[0] = {}
      for (;;) {
        const batch: Awaited<ReturnType<EventStore['readAll']>> = await store.readAll(after)
        for (const e of batch.events) {
          if (e.type === 'Deposited')
            expected.set(e.streamId, (expected.get(e.streamId) ?? 0) + (e.data as { amount: number }).amount)
        }
        if (batch.caughtUp) break
        after = { after: batch.checkpoint }
      }
      expect(Object.fromEntries(rebuilt.hits.map((a) => [a.id, a.balance]))).toEqual(Object.fromEntries(expected))
    } finally {
      writing = false
      reading = false
      await runner.stop()
    }
  }, 240_000)
})
