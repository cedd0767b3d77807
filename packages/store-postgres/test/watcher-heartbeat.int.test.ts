import { describe, expect, it } from 'vitest'
import { createPostgresLogWatcher } from '../src/postgres-log-watcher.js'
import { nextWake, useStoreTestbed } from './fixtures/store-testbed.js'

// A frozen backend (SIGSTOP) stands for a peer that vanished without closing the socket: no error, no
// end, just silence. It runs on its own cluster: a frozen backend would stall every DROP DATABASE on
// the server (they wait for all backends to absorb a signal barrier).
const schema = 'beat'
const bed = useStoreTestbed({ schema, throwaway: true })

async function listenerPids(): Promise<number[]> {
  const { rows } = await bed.db.pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND (query LIKE 'LISTEN %' OR query = 'SELECT 1')
       AND pid <> pg_backend_pid()`,
    [bed.db.name],
  )
  return rows.map((row) => row.pid)
}

describe.each([
  ['its own connection (connectionString)', () => ({ connectionString: bed.db.connectionString })],
  ['a connection held from the pool', () => ({ pool: bed.db.pool })],
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
      await bed.store.appendToStream('b-1', [{ type: 'A', data: {} }])
      await again
    } finally {
      if (frozen !== undefined) process.kill(frozen, 'SIGCONT')
      await watcher.close()
    }
  })
})
