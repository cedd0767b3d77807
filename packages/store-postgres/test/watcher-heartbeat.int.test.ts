import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresEventStore, type PostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { migrate } from '../src/migrate.js'
import { createPostgresLogWatcher } from '../src/postgres-log-watcher.js'
import { createTestDatabase, type TestDatabase } from '../src/testing/test-database.js'
import { startThrowawayPostgres, type ThrowawayPostgres } from '../src/testing/throwaway-postgres.js'

// A frozen backend (SIGSTOP) stands for a peer that vanished without closing the socket: no error, no
// end, just silence. It runs on its own cluster: a frozen backend would stall every DROP DATABASE on
// the server (they wait for all backends to absorb a signal barrier).
let server: ThrowawayPostgres
let db: TestDatabase
let store: PostgresEventStore
const schema = 'beat'

beforeAll(async () => {
  server = await startThrowawayPostgres()
  db = await createTestDatabase('annals_pg', { adminUrl: server.connectionString })
  await migrate({ pool: db.pool, schema })
  store = createPostgresEventStore({ pool: db.pool, schema })
})
afterAll(async () => {
  await db?.drop()
  await server?.stop()
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

async function listenerPids(): Promise<number[]> {
  const { rows } = await db.pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND (query LIKE 'LISTEN %' OR query = 'SELECT 1')
       AND pid <> pg_backend_pid()`,
    [db.name],
  )
  return rows.map((row) => row.pid)
}

describe.each([
  ['its own connection (connectionString)', () => ({ connectionString: db.connectionString })],
  ['a connection held from the pool', () => ({ pool: db.pool })],
])('log watcher heartbeat on %s', (_, source) => {
  it('notices a silent connection, reconnects on a new one and wakes readers', async () => {
    const watcher = createPostgresLogWatcher({
      ...source(),
      schema,
      reconnectDelayMs: 20,
      heartbeatMs: 100,
      heartbeatTimeoutMs: 300,
    })
    let frozen: number | undefined
    try {
      await watcher.ready()
      const [pid] = await listenerPids()
      expect(pid).toBeDefined()
      frozen = pid as number
      const reconnected = nextWake(watcher)
      process.kill(frozen, 'SIGSTOP')
      // Without the probe nothing would ever happen here: the frozen backend neither errs nor ends.
      await reconnected
      expect(watcher.connected).toBe(true)
      // The frozen backend cannot exit until it runs again; the watcher listens on another one.
      expect((await listenerPids()).filter((other) => other !== frozen)).toHaveLength(1)

      const again = nextWake(watcher)
      await store.appendToStream('b-1', [{ type: 'A', data: {} }])
      await again
    } finally {
      if (frozen !== undefined) process.kill(frozen, 'SIGCONT')
      await watcher.close()
    }
  })
})
