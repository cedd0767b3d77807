import type { EventStore, LogWatcher } from '@annals/core'
import { openAppend, startThrowawayPostgres, type ThrowawayPostgres } from '@annals/store-postgres/testing'
import { waitFor } from '@annals/test-support'
import pg from 'pg'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProjectionAdmin } from '../src/admin.js'
import { migrateProjections } from '../src/migrate-projections.js'
import { defineProjection } from '../src/projection.js'
import { createProjectionRunner } from '../src/runner/create-projection-runner.js'
import { createRedisReadModel, createRedisSink } from '../src/sinks/redis-sink.js'
import { createTestRedis } from './helpers.js'
import { pgStore } from './store.js'

// These tests hold transactions open. The log's fence is server-wide, so they run on a private
// PostgreSQL cluster: on the shared server they would hold back every other test file's readers.
let server: ThrowawayPostgres
let pool: pg.Pool
let store: EventStore
let r: ReturnType<typeof createTestRedis>

beforeAll(async () => {
  server = await startThrowawayPostgres()
  pool = new pg.Pool({ connectionString: server.connectionString, max: 8 })
  pool.on('error', () => undefined)
  await pgStore.migrate({ pool, schema: 'annals' })
  await migrateProjections({ pool })
  store = pgStore.createPostgresEventStore({ pool, schema: 'annals' })
  r = createTestRedis()
}, 120_000)

afterAll(async () => {
  await r?.cleanup()
  // Stop the server first: a failed test may still hold a client, which would make pool.end() wait.
  await server?.stop()
  await pool?.end().catch(() => undefined)
})

const counter = (name: string) =>
  defineProjection({
    name,
    version: 1,
    handles: ['Pinged'],
    sink: createRedisSink({ redis: r.redis, keyPrefix: r.keyPrefix }),
    handlers: { Pinged: (e, w) => w.incrby(e.streamId, 1) },
  })

const runnerOf = (name: string, watcher: LogWatcher, pollIntervalMs: number) =>
  createProjectionRunner({
    pool,
    store,
    watcher,
    projections: [counter(name)],
    logger: pino({ level: process.env.DEBUG_TEST ? 'debug' : 'silent' }),
    pollIntervalMs,
    controlIntervalMs: 50,
  })

const metric = (text: string, line: string) => text.split('\n').find((l) => l.startsWith(line))

describe('a projection behind the log fence (private Postgres server)', () => {
  it('shows state held, the lag from the head of the log and the transaction holding the fence', async () => {
    const watcher = await pgStore.createPostgresLogWatcher({ pool, schema: 'annals' })
    const runner = runnerOf('fenced', watcher, 50)
    const rm = createRedisReadModel(r.redis, counter('fenced'))
    await runner.start()
    let held: pg.PoolClient | null = null
    try {
      await store.appendToStream('p', [{ type: 'Pinged', data: {} }])
      await runner.waitUntilIdle()
      // Its own stream: an open append holds its stream's row lock.
      held = await openAppend(pool, { schema: 'annals' }, 'h', 'Pinged')
      await held.query("SET application_name = 'annals-test-holder'")
      const holderPid = (held as unknown as { processID: number }).processID
      for (let i = 0; i < 3; i++) await store.appendToStream('p', [{ type: 'Pinged', data: {} }])

      const status = await waitFor('held in the runtime status', async () => {
        const [s] = runner.status()
        return s?.state === 'held' && s.lagEvents === 3 ? s : null
      })
      expect(status.fence?.heldEvents).toBe(3)
      expect(status.fence?.holder).toMatchObject({ pid: holderPid, applicationName: 'annals-test-holder' })
      expect(status.fence?.holder?.since.getTime()).toBeLessThanOrEqual(Date.now())
      expect(status.lagSeconds).toBeGreaterThan(0)
      expect(await rm.get('p')).toBe('1')
      // waitUntilIdle is about what the log shows: it resolves, and the status still says held.
      await runner.waitUntilIdle()
      expect(runner.status()[0]?.state).toBe('held')

      const text = await runner.metrics.metrics()
      expect(metric(text, 'annals_projection_state{projection="fenced",state="held"}')).toMatch(/ 1$/)
      expect(metric(text, 'annals_projection_lag_events{projection="fenced"}')).toMatch(/ 3$/)
      expect(metric(text, 'annals_projection_fence_held_events{projection="fenced"}')).toMatch(/ 3$/)

      const shared = await waitFor('held in the published status', async () => {
        const [s] = await createProjectionAdmin({ pool }).status()
        return s?.state === 'held' && s.lagEvents === 3 ? s : null
      })
      expect(shared.fence?.heldEvents).toBe(3)
      expect(shared.fence?.holder?.pid).toBe(holderPid)

      await held.query('COMMIT')
      held.release()
      held = null
      await waitFor('caught up after the holder committed', async () => (await rm.get('p')) === '4')
      expect(await rm.get('h')).toBe('1')
      await runner.waitUntilIdle()
      const [after] = runner.status()
      expect([after?.state, after?.lagEvents, after?.fence]).toEqual(['live', 0, null])
    } finally {
      if (held) {
        await held.query('ROLLBACK')
        held.release()
      }
      await runner.stop()
      await watcher.close()
    }
  })

  it('raises no missed wake-up for events an earlier wake-up announced while the fence hid them', async () => {
    const watcher = await pgStore.createPostgresLogWatcher({ pool, schema: 'annals' })
    const runner = runnerOf('announced', watcher, 200)
    const rm = createRedisReadModel(r.redis, counter('announced'))
    await runner.start()
    const blocker = await pool.connect()
    try {
      await runner.waitUntilIdle()
      // A transaction that appends nothing (its commit wakes nobody) holds the fence back.
      await blocker.query('BEGIN')
      await blocker.query('SELECT pg_current_xact_id()')
      // Announced, but behind the fence: the reader wakes, finds nothing, looks again, then polls.
      await store.appendToStream('q', [{ type: 'Pinged', data: {} }])
      await new Promise((resolve) => setTimeout(resolve, 800))
      expect(await rm.get('q')).toBeNull()
      await blocker.query('COMMIT')
      await waitFor('applied by a poll', async () => (await rm.get('q')) === '1')
      const text = await runner.metrics.metrics()
      expect(text).not.toMatch(/annals_projection_missed_wakeups_total\{projection="announced"\} [1-9]/)
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined)
      blocker.release()
      await runner.stop()
      await watcher.close()
    }
  })
})
