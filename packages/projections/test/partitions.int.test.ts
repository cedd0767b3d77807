import { resolve } from 'node:path'
import { REDIS_URL, type SpawnedProcess, spawnTs, waitFor } from '@annals/test-support'
import { afterEach, describe, expect, it } from 'vitest'
import { projectionTables } from '../src/names.js'
import { useProjectionsTestBed } from './helpers.js'

const workerFile = resolve(import.meta.dirname, 'worker.ts')
const PARTITIONS = 16
const LEASE_TTL_MS = 1500

type Worker = SpawnedProcess & { id: string }

describe('partitioned projections across worker processes (real Postgres and Redis)', () => {
  const bed = useProjectionsTestBed('each')
  const workers: Worker[] = []

  function startWorker(id: string, extra: Record<string, string> = {}): Worker {
    const worker: Worker = Object.assign(
      spawnTs(workerFile, {
        env: {
          DATABASE_URL: bed.db.url,
          REDIS_URL,
          KEY_PREFIX: bed.r.keyPrefix,
          WORKER_ID: id,
          LEASE_TTL_MS: String(LEASE_TTL_MS),
          POLL_MS: '100',
          PARTITIONS: String(PARTITIONS),
          ...extra,
        },
      }),
      { id },
    )
    workers.push(worker)
    return worker
  }

  const logged = (worker: Worker, msg: string) => worker.lines.filter((line) => line.includes(msg)).length

  afterEach(async () => {
    for (const w of workers.splice(0)) {
      if (w.child.signalCode === 'SIGSTOP' || w.child.exitCode === null) w.child.kill('SIGCONT')
      await w.kill()
    }
  })

  /** Live owners of each projection's partitions: projection → owner → count. */
  async function shares(): Promise<Map<string, Map<string, number>>> {
    const t = projectionTables({})
    const { rows } = await bed.db.pool.query<{ projection: string; owner: string; n: number }>(
      `SELECT projection, owner, count(*)::int AS n FROM ${t.partitionLeases}
       WHERE expires_at > now() AND partition < $1 GROUP BY projection, owner`,
      [PARTITIONS],
    )
    const out = new Map<string, Map<string, number>>()
    for (const r of rows) {
      const m = out.get(r.projection) ?? new Map<string, number>()
      m.set(r.owner, r.n)
      out.set(r.projection, m)
    }
    return out
  }

  /** Resolves once both projections' partitions are held exactly as `expected` (owner → count). */
  async function ownedAs(what: string, expected: Record<string, number>, timeoutMs = 20_000) {
    const want = JSON.stringify(Object.entries(expected).sort())
    let seen = ''
    await waitFor(
      what,
      async () => {
        const all = await shares()
        seen = JSON.stringify([...all].map(([name, m]) => [name, [...m].sort()]))
        for (const name of ['redis-counter', 'pg-counter']) {
          const got = JSON.stringify([...(all.get(name) ?? new Map()).entries()].sort())
          if (got !== want) return false
        }
        return true
      },
      { timeoutMs, everyMs: 50 },
    ).catch((error: Error) => {
      throw new Error(`${error.message} (last seen: ${seen})`)
    })
  }

  /** Both read models equal a fresh replay: every event applied once, each stream's events in order. */
  async function expectReadModelsEqualLog() {
    const pool = bed.db.pool
    const { rows } = await pool.query<{ stream_id: string; n: string; sum: string }>(
      `SELECT stream_id, count(*)::text AS n, sum((data->>'amount')::bigint)::text AS sum FROM annals.events
       WHERE type = 'Bumped' GROUP BY stream_id ORDER BY stream_id`,
    )
    const redis = bed.r.redis
    const base = `${bed.r.keyPrefix}{redis-counter}`
    const gen = await redis.get(`${base}:live`)
    const fromRedis: string[][] = []
    for (const row of rows) {
      const h = await redis.hgetall(`${base}:g${gen}:k:${row.stream_id}`)
      fromRedis.push([row.stream_id, h.count ?? '0', h.sum ?? '0'])
      const log = await redis.lrange(`${base}:g${gen}:k:${row.stream_id}:log`, 0, -1)
      // Per-stream order: the stream's versions, each once, in order.
      expect(log.map((entry) => Number(entry.split('@')[0]))).toEqual(
        Array.from({ length: Number(row.n) }, (_, i) => i + 1),
      )
    }
    expect(fromRedis).toEqual(rows.map((x) => [x.stream_id, x.n, x.sum]))
    const pg = await pool.query<{ stream: string; count: string; sum: string }>(
      'SELECT stream, count::text, sum::text FROM rm.counts ORDER BY stream',
    )
    expect(pg.rows.map((x) => [x.stream, x.count, x.sum])).toEqual(rows.map((x) => [x.stream_id, x.n, x.sum]))
  }

  async function caughtUp() {
    const pool = bed.db.pool
    const total = Number((await pool.query(`SELECT count(*) FROM annals.events WHERE type = 'Bumped'`)).rows[0].count)
    const base = `${bed.r.keyPrefix}{redis-counter}`
    await waitFor(
      'workers caught up',
      async () => {
        const gen = await bed.r.redis.get(`${base}:live`)
        const all = Number(await bed.r.redis.get(`${base}:g${gen}:k:all`))
        const n = await pool.query('SELECT coalesce(sum(count), 0)::int AS n FROM rm.counts').catch(() => null)
        return all >= total && (n?.rows[0]?.n ?? 0) >= total
      },
      { timeoutMs: 30_000, everyMs: 50 },
    )
  }

  function appendContinuously() {
    let appending = true
    let appended = 0
    const done = (async () => {
      while (appending) {
        await bed.store.appendToStream(`s-${appended % 41}`, [
          { type: 'Bumped', data: { amount: (appended % 5) + 1 } },
          { type: 'Bumped', data: { amount: 1 } },
        ])
        appended += 2
        await new Promise((r) => setTimeout(r, 2))
      }
    })()
    return {
      async stop() {
        appending = false
        await done
        return appended
      },
    }
  }

  it('shares 16 partitions 6/5/5, takes a killed worker’s over within the lease time, rebalances to 4/4/4/4, applies each event once in order', async () => {
    const appender = appendContinuously()
    try {
      startWorker('w1')
      startWorker('w2')
      const w3 = startWorker('w3')
      await ownedAs('three workers holding 6/5/5', { w1: 6, w2: 5, w3: 5 }, 30_000)
      await w3.kill()
      // The dead worker's leases and heartbeat expire after LEASE_TTL_MS; the others share them at once.
      await ownedAs('the two others holding all 16', { w1: 8, w2: 8 }, LEASE_TTL_MS * 4 + 4000)
      startWorker('w4')
      startWorker('w5')
      await ownedAs('four workers holding 4/4/4/4', { w1: 4, w2: 4, w4: 4, w5: 4 })
      const appended = await appender.stop()
      expect(appended).toBeGreaterThan(100)
      await caughtUp()
      await expectReadModelsEqualLog()
      expect(workers.some((w) => logged(w, 'partitions handed over') > 0)).toBe(true)
    } finally {
      await appender.stop()
    }
  }, 55_000)

  it('fences a zombie (SIGSTOP past its lease, then SIGCONT): its commits are refused and logged, nothing applied twice', async () => {
    const zombie = startWorker('zombie', { STOP_ON_EVENT: '1' })
    await ownedAs('the first worker holding every partition', { zombie: PARTITIONS })
    await bed.store.appendToStream('z-1', [{ type: 'Bumped', data: { amount: 1 } }])
    await bed.store.appendToStream('z-2', [{ type: 'Bumped', data: { amount: 10, stop: true } }])
    await waitFor('zombie paused before its commit', async () => logged(zombie, 'self-stopping before commit') === 1)
    startWorker('heir')
    await ownedAs('the heir holding every partition', { heir: PARTITIONS }, LEASE_TTL_MS * 4 + 6000)
    await bed.store.appendToStream('z-1', [{ type: 'Bumped', data: { amount: 100 } }])
    await caughtUp()
    zombie.child.kill('SIGCONT')
    // The batch paused before its commit (and any other commit in flight at the SIGSTOP) is refused in
    // both sinks; nothing of it is written (the read models below equal the log).
    const fencedWithEvents = (projection: string) =>
      zombie.lines.filter(
        (line) =>
          line.includes('commit fenced') &&
          line.includes(`"projection":"${projection}"`) &&
          !line.includes('"events":0'),
      ).length
    await waitFor(
      'zombie commits fenced',
      async () => fencedWithEvents('redis-counter') >= 1 && fencedWithEvents('pg-counter') >= 1,
    )
    await bed.store.appendToStream('z-3', [{ type: 'Bumped', data: { amount: 1000 } }])
    await caughtUp()
    await expectReadModelsEqualLog()
  }, 55_000)
})
