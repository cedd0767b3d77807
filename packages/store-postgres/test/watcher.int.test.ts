import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresEventStore, type PostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { migrate } from '../src/migrate.js'
import { createPostgresLogWatcher } from '../src/postgres-log-watcher.js'
import { createTestDatabase, type TestDatabase } from '../src/testing/test-database.js'

let db: TestDatabase
let store: PostgresEventStore
const schema = 'watch'

beforeAll(async () => {
  db = await createTestDatabase('annals_pg')
  await migrate({ pool: db.pool, schema })
  store = createPostgresEventStore({ pool: db.pool, schema })
})
afterAll(async () => {
  await db?.drop()
})

function nextWake(watcher: { onWake(listener: () => void): () => void }, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error('no wake-up'))
    }, timeoutMs)
    const off = watcher.onWake(() => {
      clearTimeout(timer)
      off()
      resolve()
    })
  })
}

async function watcherPid(): Promise<number> {
  const { rows } = await db.pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN %'`,
    [db.name],
  )
  expect(rows).toHaveLength(1)
  return rows[0]?.pid as number
}

describe.each([
  ['its own connection (connectionString)', () => ({ connectionString: db.connectionString })],
  ['a connection held from the pool', () => ({ pool: db.pool })],
])('log watcher on %s', (_, source) => {
  it('wakes on an append, reconnects after pg_terminate_backend, wakes on reconnect and keeps working', async () => {
    const watcher = createPostgresLogWatcher({ ...source(), schema, reconnectDelayMs: 20 })
    try {
      await watcher.ready()
      expect(watcher.connected).toBe(true)
      const woke = nextWake(watcher)
      await store.appendToStream('w-1', [{ type: 'A', data: {} }])
      await woke

      const pid = await watcherPid()
      const reconnected = nextWake(watcher)
      await db.pool.query('SELECT pg_terminate_backend($1)', [pid])
      // The wake after reconnecting tells readers to catch up on what they missed while it was down.
      await reconnected
      expect(watcher.connected).toBe(true)
      expect(await watcherPid()).not.toBe(pid)

      const again = nextWake(watcher)
      await store.appendToStream('w-1', [{ type: 'A', data: {} }])
      await again
    } finally {
      await watcher.close()
    }
    expect(watcher.connected).toBe(false)
  })
})

it('sends one small notification per append transaction, even for many events and streams', async () => {
  const listener = await db.pool.connect()
  const payloads: string[] = []
  listener.on('notification', (n) => payloads.push(n.payload ?? ''))
  try {
    await listener.query(`LISTEN "watch_events"`)
    await store.appendToStreams([
      { streamId: 'n-1', events: Array.from({ length: 50 }, () => ({ type: 'A', data: {} })) },
      { streamId: 'n-2', events: [{ type: 'A', data: {} }] },
    ])
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(payloads).toEqual([''])
  } finally {
    await listener.query('UNLISTEN *')
    listener.release()
  }
})
