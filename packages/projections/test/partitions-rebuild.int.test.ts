import { waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { defineProjection } from '../src/projection.js'
import type { ProjectionRunner } from '../src/runner/create-projection-runner.js'
import { createRedisReadModel, createRedisSink } from '../src/sinks/redis-sink.js'
import { useProjectionsTestBed } from './helpers.js'

describe('rebuilds of a partitioned projection (real Postgres and Redis, two runners)', () => {
  const bed = useProjectionsTestBed('each')

  const totals = (version: number, partitions: number, factor: number) =>
    defineProjection({
      name: 'totals',
      version,
      partitions,
      handles: ['Deposited'],
      sink: createRedisSink({ redis: bed.r.redis, keyPrefix: bed.r.keyPrefix }),
      handlers: {
        Deposited(e, w) {
          w.incrby(e.streamId, (e.data as { amount: number }).amount * factor)
        },
      },
    })

  async function registry() {
    const { rows } = await bed.db.pool.query<{ g: number; p: number | null; b: number | null }>(
      `SELECT live_generation AS g, live_partitions AS p, building_generation AS b FROM annals.projections WHERE name = 'totals'`,
    )
    return rows[0]
  }

  async function expectTotals(factor: number) {
    const { rows } = await bed.db.pool.query<{ s: string; t: string }>(
      `SELECT stream_id AS s, sum((data->>'amount')::bigint)::text AS t FROM annals.events GROUP BY stream_id ORDER BY 1`,
    )
    const read = createRedisReadModel(bed.r.redis, 'totals', { keyPrefix: bed.r.keyPrefix })
    await waitFor(
      `totals × ${factor}`,
      async () => {
        for (const r of rows) if ((await read.get(r.s)) !== String(BigInt(r.t) * BigInt(factor))) return false
        return true
      },
      30_000,
    )
  }

  async function runBoth(version: number, partitions: number, factor: number): Promise<ProjectionRunner[]> {
    const runners = ['a', 'b'].map((id) =>
      bed.runner({
        projections: [totals(version, partitions, factor)],
        workerId: id,
        leaseTtlMs: 1500,
        controlIntervalMs: 50,
      }),
    )
    for (const r of runners) await r.start()
    return runners
  }

  it('builds every partition in parallel, swaps the generation once all caught up (readers never see it empty), and a new count is a new generation', async () => {
    for (let i = 0; i < 400; i++)
      await bed.store.appendToStream(`acc-${i % 23}`, [{ type: 'Deposited', data: { amount: (i % 7) + 1 } }])
    let runners = await runBoth(1, 4, 1)
    await expectTotals(1)
    await waitFor('both runners hold partitions', () => runners.every((r) => r.partitions().length === 2))
    for (const r of runners) await r.stop()
    expect(await registry()).toEqual({ g: 1, p: 4, b: null })

    const read = createRedisReadModel(bed.r.redis, 'totals', { keyPrefix: bed.r.keyPrefix })
    let watching = true
    const blanks: string[] = []
    const watcher = (async () => {
      while (watching) {
        if ((await read.get('acc-1')) === null) blanks.push(String(await read.generation()))
        await new Promise((r) => setTimeout(r, 5))
      }
    })()
    try {
      // A new version: generation 2 is built beside generation 1 by both runners, then swapped.
      runners = await runBoth(2, 4, 10)
      for (let i = 0; i < 100; i++)
        await bed.store.appendToStream(`acc-${i % 23}`, [{ type: 'Deposited', data: { amount: 1 } }])
      await waitFor('generation 2 live', async () => (await registry())?.g === 2, 30_000)
      await expectTotals(10)
      for (const r of runners) await r.stop()
      // Another partition count, same version: a rebuild, never a reshuffle of the live generation.
      runners = await runBoth(2, 8, 10)
      await waitFor(
        'generation 3 live with 8 partitions',
        async () => {
          const row = await registry()
          return row?.g === 3 && row.p === 8
        },
        30_000,
      )
      await expectTotals(10)
      for (const r of runners) await r.stop()
    } finally {
      watching = false
      await watcher
    }
    expect(blanks).toEqual([])
    // The old generations are dropped once every partition has left them (by the next coordinator too).
    runners = await runBoth(2, 8, 10)
    await waitFor('generations 1 and 2 dropped', async () => {
      const left = [
        ...(await bed.r.redis.keys(`${bed.r.keyPrefix}{totals}:g1:*`)),
        ...(await bed.r.redis.keys(`${bed.r.keyPrefix}{totals}:g2:*`)),
      ]
      return left.length === 0
    })
    for (const r of runners) await r.stop()
  })
})
