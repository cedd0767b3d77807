import type { EventStore, Logger } from '@annals/core'
import { startThrowawayPostgres, type ThrowawayPostgres } from '@annals/store-postgres/testing'
import { waitFor } from '@annals/test-support'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProjectionAdmin } from '../src/admin.js'
import { type ProjectionHealthServer, startProjectionHealthServer } from '../src/health-server.js'
import { migrateProjections } from '../src/migrate-projections.js'
import { defineProjection } from '../src/projection.js'
import { createProjectionRunner } from '../src/runner/create-projection-runner.js'
import { createRedisReadModel, createRedisSink } from '../src/sinks/redis-sink.js'
import { createTestRedis } from './helpers.js'
import { pgStore } from './store.js'

// An idle-in-transaction session in ANOTHER database of the server holds the log's fence: the fence
// is server-wide. Its own cluster, so the hold stalls nobody else's tests.
let server: ThrowawayPostgres
let pool: pg.Pool
let store: EventStore
let r: ReturnType<typeof createTestRedis>
let scratchUrl: string

beforeAll(async () => {
  server = await startThrowawayPostgres()
  pool = new pg.Pool({ connectionString: server.connectionString, max: 8 })
  pool.on('error', () => undefined)
  await pool.query('CREATE DATABASE scratch')
  const url = new URL(server.connectionString)
  url.pathname = '/scratch'
  scratchUrl = url.toString()
  await pgStore.migrate({ pool, schema: 'annals' })
  await migrateProjections({ pool })
  store = pgStore.createPostgresEventStore({ pool, schema: 'annals' })
  r = createTestRedis()
}, 120_000)

afterAll(async () => {
  await r?.cleanup()
  await server?.stop()
  await pool?.end().catch(() => undefined)
})

type Entry = { level: string; fields: Record<string, unknown>; message: string }

/** A logger that keeps what it is given (the test reads the warnings). */
function recordingLogger(entries: Entry[]): Logger {
  const at =
    (level: string) =>
    (fields: object, message = '') =>
      entries.push({ level, fields: fields as Record<string, unknown>, message })
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

const counter = () =>
  defineProjection({
    name: 'stalled',
    version: 1,
    handles: ['Pinged'],
    sink: createRedisSink({ redis: r.redis, keyPrefix: r.keyPrefix }),
    handlers: { Pinged: (e, w) => w.incrby(e.streamId, 1) },
  })

const metric = (text: string, prefix: string) => text.split('\n').find((l) => l.startsWith(prefix))

async function readyz(health: ProjectionHealthServer) {
  const response = await fetch(`${health.url}/readyz`)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

describe('a stall behind the log fence held from another database (private Postgres server)', () => {
  it('is reported with the holder (pid, database, query) in status, metric, /readyz and one warning; ready again after', async () => {
    const entries: Entry[] = []
    const runner = createProjectionRunner({
      pool,
      store,
      projections: [counter()],
      logger: recordingLogger(entries),
      pollIntervalMs: 50,
      controlIntervalMs: 50,
      stallWarningMs: 300,
    })
    const rm = createRedisReadModel(r.redis, counter())
    await runner.start()
    const health = await startProjectionHealthServer({ runner, host: '127.0.0.1', maxStallMs: 300 })
    const holder = new pg.Client({ connectionString: scratchUrl, application_name: 'scratch-holder' })
    await holder.connect()
    let holding = false
    try {
      await store.appendToStream('s', [{ type: 'Pinged', data: {} }])
      await runner.waitUntilIdle()
      expect(await readyz(health)).toMatchObject({ status: 200, body: { status: 'ready' } })
      expect((await fetch(`${health.url}/healthz`)).status).toBe(200)

      // Idle in transaction in the scratch database, with a transaction id: the fence stops at it.
      await holder.query('BEGIN')
      holding = true
      await holder.query('SELECT pg_current_xact_id() /* the holder */')
      const pid = (holder as unknown as { processID: number }).processID
      for (let i = 0; i < 3; i++) await store.appendToStream('s', [{ type: 'Pinged', data: {} }])

      const status = await waitFor('held, and long enough to be a stall', async () => {
        const [s] = runner.status()
        return s?.state === 'held' && s.lagEvents === 3 && s.lagSeconds > 0.5 ? s : null
      })
      expect(status.fence?.holder).toMatchObject({
        pid,
        database: 'scratch',
        applicationName: 'scratch-holder',
        state: 'idle in transaction',
        query: 'SELECT pg_current_xact_id() /* the holder */',
      })
      expect(await rm.get('s')).toBe('1')

      const ready = await waitFor('/readyz says stalled', async () => {
        const answer = await readyz(health)
        return answer.status === 503 ? answer.body : null
      })
      expect(ready).toMatchObject({
        status: 'not-ready',
        projections: [
          {
            name: 'stalled',
            state: 'held',
            ready: false,
            lagEvents: 3,
            fence: {
              heldEvents: 3,
              holder: { pid, database: 'scratch', query: 'SELECT pg_current_xact_id() /* the holder */' },
            },
          },
        ],
      })
      const reasons = (ready.projections as { reasons: string[] }[])[0]?.reasons ?? []
      expect(reasons.join()).toContain(`stalled`)
      expect(reasons.join()).toContain(`pid ${pid} in database scratch`)
      // Liveness is not readiness: the process is fine, it is waiting.
      expect((await fetch(`${health.url}/healthz`)).status).toBe(200)

      const text = await runner.metrics.metrics()
      expect(
        metric(
          text,
          `annals_projection_fence_holder_age_seconds{projection="stalled",pid="${pid}",database="scratch",application="scratch-holder"}`,
        ),
      ).toBeDefined()

      const published = await waitFor('the holder in the shared status', async () => {
        const [s] = await createProjectionAdmin({ pool }).status()
        return s?.fence?.holder?.query ? s : null
      })
      expect(published.fence?.holder).toMatchObject({
        pid,
        database: 'scratch',
        query: expect.stringContaining('holder'),
      })

      // Many control ticks later (every 50 ms), still one warning.
      await new Promise((resolve) => setTimeout(resolve, 600))
      const stalls = entries.filter((e) => e.level === 'warn' && e.message.includes('stalled'))
      expect(stalls).toHaveLength(1)
      expect(stalls[0]?.message).toContain(`pid ${pid} in database scratch`)
      expect(stalls[0]?.fields).toMatchObject({
        projection: 'stalled',
        heldEvents: 3,
        holder: { pid, database: 'scratch', query: 'SELECT pg_current_xact_id() /* the holder */' },
      })

      await holder.query('COMMIT')
      holding = false
      await waitFor('applied after the holder ended', async () => (await rm.get('s')) === '4')
      await waitFor('/readyz ready again', async () => (await readyz(health)).status === 200)
      const text2 = await runner.metrics.metrics()
      expect(text2).not.toContain('annals_projection_fence_holder_age_seconds{')
    } finally {
      if (holding) await holder.query('ROLLBACK').catch(() => undefined)
      await holder.end()
      await health.close()
      await runner.stop()
    }
    // A stopped runner is not alive for a supervisor (a restart is due).
  })

  it('answers /healthz 503 once the runner has stopped, and 404 elsewhere', async () => {
    const runner = createProjectionRunner({
      pool,
      store,
      projections: [counter()],
      pollIntervalMs: 50,
      logger: recordingLogger([]),
    })
    await runner.start()
    const health = await startProjectionHealthServer({ runner, host: '127.0.0.1' })
    try {
      expect((await fetch(`${health.url}/healthz`)).status).toBe(200)
      expect((await fetch(`${health.url}/nope`)).status).toBe(404)
      await runner.stop()
      expect(await (await fetch(`${health.url}/healthz`)).json()).toEqual({ status: 'stopped' })
      expect((await fetch(`${health.url}/readyz`)).status).toBe(503)
    } finally {
      await health.close()
      await runner.stop()
    }
  })
})
