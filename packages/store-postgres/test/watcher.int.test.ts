import { describe, expect, it } from 'vitest'
import { createPostgresLogWatcher } from '../src/postgres-log-watcher.js'
import { nextWake, useStoreTestbed } from './fixtures/store-testbed.js'

const schema = 'watch'
const bed = useStoreTestbed({ schema })

async function watcherPid(): Promise<number> {
  const { rows } = await bed.db.pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN %'`,
    [bed.db.name],
  )
  expect(rows).toHaveLength(1)
  return rows[0]?.pid as number
}

describe.each([
  ['its own connection (connectionString)', () => ({ connectionString: bed.db.connectionString })],
  ['a connection held from the pool', () => ({ pool: bed.db.pool })],
])('log watcher on %s', (_, source) => {
  it('wakes on an append, reconnects after pg_terminate_backend, wakes on reconnect and keeps working', async () => {
    const watcher = createPostgresLogWatcher({ ...source(), schema, reconnectDelayMs: 20 })
    try {
      await watcher.ready()
      expect(watcher.connected).toBe(true)
      const woke = nextWake(watcher)
      await bed.store.appendToStream('w-1', [{ type: 'A', data: {} }])
      await woke

      const pid = await watcherPid()
      const reconnected = nextWake(watcher)
      await bed.db.pool.query('SELECT pg_terminate_backend($1)', [pid])
      // The wake after reconnecting tells readers to catch up on what they missed while it was down.
      await reconnected
      expect(watcher.connected).toBe(true)
      expect(await watcherPid()).not.toBe(pid)

      const again = nextWake(watcher)
      await bed.store.appendToStream('w-1', [{ type: 'A', data: {} }])
      await again
    } finally {
      await watcher.close()
    }
    expect(watcher.connected).toBe(false)
  })
})

it('sends one small notification per append transaction, even for many events and streams', async () => {
  const listener = await bed.db.pool.connect()
  const payloads: string[] = []
  listener.on('notification', (n) => payloads.push(n.payload ?? ''))
  try {
    await listener.query(`LISTEN "watch_events"`)
    await bed.store.appendToStreams([
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
