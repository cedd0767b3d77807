import { resolve } from 'node:path'
import { REDIS_URL, type SpawnedProcess, spawnTs, waitFor } from '@annals/test-support'
import type pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { useProjectionsTestBed } from './helpers.js'

const workerFile = resolve(import.meta.dirname, 'worker.ts')

type Worker = SpawnedProcess & { id: string }

describe('worker processes (real Postgres store and Redis)', () => {
  const bed = useProjectionsTestBed('all')
  const workers: Worker[] = []

  function startWorker(id: string, extra: Record<string, string> = {}): Worker {
    const worker: Worker = Object.assign(
      spawnTs(workerFile, {
        env: {
          DATABASE_URL: bed.db.url,
          REDIS_URL,
          KEY_PREFIX: bed.r.keyPrefix,
          WORKER_ID: id,
          LEASE_TTL_MS: '1500',
          POLL_MS: '100',
          ...extra,
        },
      }),
      { id },
    )
    workers.push(worker)
    return worker
  }

  const lines = (worker: Worker) => worker.output().split('\n').filter(Boolean)
  const logged = (worker: Worker, msg: string) => lines(worker).filter((line) => line.includes(msg)).length

  afterEach(async () => {
    for (const w of workers.splice(0)) {
      if (w.child.signalCode === 'SIGSTOP' || w.child.exitCode === null) w.child.kill('SIGCONT')
      await w.kill()
    }
  })

  async function expectCountersMatchLog(pool: pg.Pool) {
    const { rows } = await pool.query<{ stream_id: string; n: string; sum: string }>(
      `SELECT stream_id, count(*)::text AS n, sum((data->>'amount')::bigint)::text AS sum FROM annals.events
       WHERE type = 'Bumped' GROUP BY stream_id ORDER BY stream_id`,
    )
    const redisCounts: string[][] = []
    for (const row of rows) {
      const gen = await bed.r.redis.get(`${bed.r.keyPrefix}{redis-counter}:live`)
      const h = await bed.r.redis.hgetall(`${bed.r.keyPrefix}{redis-counter}:g${gen}:k:${row.stream_id}`)
      redisCounts.push([row.stream_id, h.count ?? '0', h.sum ?? '0'])
      if (Number(h.count) !== Number(row.n)) {
        const log = await bed.r.redis.lrange(`${bed.r.keyPrefix}{redis-counter}:g${gen}:k:${row.stream_id}:log`, 0, -1)
        console.log(row.stream_id, log.join(' '))
        for (const w of workers)
          console.log(
            w.id,
            lines(w)
              .filter((l) => l.startsWith('commit'))
              .join('\n'),
          )
      }
    }
    expect(redisCounts).toEqual(rows.map((x) => [x.stream_id, x.n, x.sum]))
    const pgCounts = await pool.query<{ stream: string; count: string; sum: string }>(
      'SELECT stream, count::text, sum::text FROM rm.counts ORDER BY stream',
    )
    expect(pgCounts.rows.map((x) => [x.stream, x.count, x.sum])).toEqual(rows.map((x) => [x.stream_id, x.n, x.sum]))
  }

  async function caughtUp(pool: pg.Pool) {
    const total = Number((await pool.query(`SELECT count(*) FROM annals.events WHERE type = 'Bumped'`)).rows[0].count)
    await waitFor(
      'workers caught up',
      async () => {
        const gen = await bed.r.redis.get(`${bed.r.keyPrefix}{redis-counter}:live`)
        const all = Number(await bed.r.redis.get(`${bed.r.keyPrefix}{redis-counter}:g${gen}:k:all`))
        const rows = await pool.query('SELECT coalesce(sum(count), 0)::int AS n FROM rm.counts').catch(() => null)
        return all >= total && (rows?.rows[0]?.n ?? 0) >= total
      },
      { timeoutMs: 60_000, everyMs: 50 },
    )
  }

  it('a worker killed with SIGKILL mid-run and restarted ends equal to a clean replay (nothing lost, nothing doubled)', async () => {
    const store = bed.store
    let appending = true
    let appended = 0
    const appender = (async () => {
      while (appending) {
        await store.appendToStream(`s-${appended % 17}`, [
          { type: 'Bumped', data: { amount: (appended % 5) + 1 } },
          { type: 'Bumped', data: { amount: 1 } },
        ])
        appended += 2
      }
    })()
    try {
      for (let round = 0; round < 3; round++) {
        const w = startWorker(`crash-${round}`)
        await waitFor('progress', async () => {
          const { rows } = await bed.db.pool
            .query('SELECT coalesce(sum(count), 0)::int AS n FROM rm.counts')
            .catch(() => ({
              rows: [{ n: 0 }],
            }))
          return (rows[0]?.n ?? 0) > round * 150 + 50
        })
        await new Promise((done) => setTimeout(done, Math.random() * 150))
        await w.kill()
      }
      appending = false
      await appender
      startWorker('crash-final')
      await caughtUp(bed.db.pool)
      await expectCountersMatchLog(bed.db.pool)
      expect(appended).toBeGreaterThan(400)
    } finally {
      appending = false
      await appender
    }
  })

  it('fences a paused owner: the standby takes over, and the resumed zombie cannot commit', async () => {
    const store = bed.store
    const owner = startWorker('owner', { STOP_ON_EVENT: '1' })
    await waitFor('owner leases', async () => logged(owner, 'lease acquired') === 2)
    const standby = startWorker('standby')
    await store.appendToStream('z-1', [{ type: 'Bumped', data: { amount: 1 } }])
    await store.appendToStream('z-2', [{ type: 'Bumped', data: { amount: 10, stop: true } }])
    await waitFor('owner paused before its commit', async () => logged(owner, 'self-stopping before commit') === 1)
    await waitFor('standby took over both projections', async () => logged(standby, 'lease acquired') === 2, 20_000)
    // The standby applies the event the zombie holds, and more.
    await store.appendToStream('z-1', [{ type: 'Bumped', data: { amount: 100 } }])
    await caughtUp(bed.db.pool)
    owner.child.kill('SIGCONT')
    await waitFor('zombie commits fenced', async () => logged(owner, 'commit fenced') === 2, 20_000)
    await store.appendToStream('z-3', [{ type: 'Bumped', data: { amount: 1000 } }])
    await caughtUp(bed.db.pool)
    await expectCountersMatchLog(bed.db.pool)
  })

  it('a rebuild killed half-way never goes live, and resumes to completion', async () => {
    const store = bed.store
    for (let i = 0; i < 60; i++) {
      await store.appendToStreams(
        Array.from({ length: 5 }, (_, k) => ({
          streamId: `rb-${k}`,
          events: [
            { type: 'Bumped', data: { amount: i } },
            { type: 'Bumped', data: { amount: 1 } },
          ],
        })),
      )
    }
    const v1 = startWorker('v1')
    await caughtUp(bed.db.pool)
    await v1.kill()
    const liveOf = async () => ({
      redis: await bed.r.redis.get(`${bed.r.keyPrefix}{redis-counter}:live`),
      registry: (
        await bed.db.pool.query<{ name: string; live_generation: number }>(
          'SELECT name, live_generation FROM annals.projections ORDER BY name',
        )
      ).rows.map((row) => `${row.name}:${row.live_generation}`),
    })
    const before = await liveOf()
    const building = startWorker('v2-crash', { COUNTER_VERSION: '2', REBUILD_BATCH_SIZE: '10' })
    await waitFor(
      'half-built generation',
      async () =>
        Number((await bed.r.redis.get(`${bed.r.keyPrefix}{redis-counter}:g${Number(before.redis) + 1}:k:all`)) ?? 0) >
        200,
    )
    await building.kill()
    expect(await liveOf()).toEqual(before)
    const resumed = startWorker('v2', { COUNTER_VERSION: '2', REBUILD_BATCH_SIZE: '10' })
    await waitFor('rebuild resumed', async () => logged(resumed, 'rebuild resumed') === 2)
    await waitFor('new generation live', async () => logged(resumed, 'rebuild went live') === 2, 60_000)
    const after = await liveOf()
    expect(Number(after.redis)).toBe(Number(before.redis) + 1)
    await caughtUp(bed.db.pool)
    await expectCountersMatchLog(bed.db.pool)
  })

  it('stops gracefully on SIGTERM: finishes, releases its leases at once, and exits 0', async () => {
    // Version 2, live since the rebuild test: an older worker would stand by as superseded.
    const first = startWorker('graceful', { LEASE_TTL_MS: '30000', COUNTER_VERSION: '2' })
    await waitFor('leases', async () => logged(first, 'lease acquired') === 2)
    first.child.kill('SIGTERM')
    expect((await first.exited).code).toBe(0)
    expect(logged(first, 'projection runner stopped')).toBe(1)
    // With a 30 s TTL, only a released lease lets a successor in this quickly.
    const t0 = Date.now()
    const next = startWorker('successor', { LEASE_TTL_MS: '30000', COUNTER_VERSION: '2' })
    await waitFor('successor leases', async () => logged(next, 'lease acquired') === 2, 10_000)
    expect(Date.now() - t0).toBeLessThan(10_000)
  })

  it('the newest version killed with SIGKILL: the older worker left never takes over, the read model stays frozen', async () => {
    const store = bed.store
    const liveOf = async () => ({
      redis: await bed.r.redis.get(`${bed.r.keyPrefix}{redis-counter}:live`),
      registry: (
        await bed.db.pool.query<{
          name: string
          live_generation: number
          live_version: number
          building_generation: number | null
        }>('SELECT name, live_generation, live_version, building_generation FROM annals.projections ORDER BY name')
      ).rows,
    })
    const frozen = async () => ({
      redis: await bed.r.redis.get(
        `${bed.r.keyPrefix}{redis-counter}:g${await bed.r.redis.get(`${bed.r.keyPrefix}{redis-counter}:live`)}:k:all`,
      ),
      postgres: (await bed.db.pool.query('SELECT coalesce(sum(count), 0)::int AS n FROM rm.counts')).rows[0].n,
    })
    // The previous test's killed workers may hold 30 s leases: don't wait them out.
    await bed.db.pool.query('UPDATE annals.projection_leases SET expires_at = now()')
    const newest = startWorker('v3', { COUNTER_VERSION: '3', REBUILD_BATCH_SIZE: '2000' })
    await waitFor(
      'version 3 live',
      async () =>
        (await liveOf()).registry.every((r) => r.live_version === 3 && r.building_generation === null) &&
        logged(newest, 'lease acquired') === 2,
      60_000,
    )
    await store.appendToStream('d-1', [{ type: 'Bumped', data: { amount: 1 } }])
    await caughtUp(bed.db.pool)
    const older = startWorker('v2-left-over', { COUNTER_VERSION: '2' })
    await waitFor('older worker superseded', async () => logged(older, 'superseded by a higher version') === 2)
    await newest.kill()
    const before = { live: await liveOf(), counts: await frozen() }
    expect(before.live.registry.map((r) => [r.live_version, r.building_generation])).toEqual([
      [3, null],
      [3, null],
    ])
    await store.appendToStream('d-2', [{ type: 'Bumped', data: { amount: 5 } }])
    // Several lease lifetimes (1.5 s) after the kill: the old worker had every chance to take over.
    await new Promise((done) => setTimeout(done, 6000))
    expect(logged(older, 'lease acquired')).toBe(0)
    expect(logged(older, 'superseded by a higher version')).toBe(2)
    expect({ live: await liveOf(), counts: await frozen() }).toEqual(before)
    // The same version picks up where the killed one stopped.
    const successor = startWorker('v3-again', { COUNTER_VERSION: '3' })
    await waitFor('successor leases', async () => logged(successor, 'lease acquired') === 2)
    await caughtUp(bed.db.pool)
    await expectCountersMatchLog(bed.db.pool)
    expect(logged(successor, 'rebuild started')).toBe(0)
    expect(logged(older, 'lease acquired')).toBe(0)
  }, 90_000)
})
