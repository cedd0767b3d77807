import { waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { createProjectionAdmin } from '../src/admin.js'
import { migrateProjections } from '../src/migrate-projections.js'
import { defineProjection } from '../src/projection.js'
import { createPostgresSink } from '../src/sinks/postgres-sink.js'
import { useProjectionsTestBed, waitUntilApplied } from './helpers.js'

describe('projection tables under a table prefix (real Postgres store)', () => {
  const bed = useProjectionsTestBed()

  // One projection name, deployed twice in schema `annals` under two prefixes (each with its own sink schema).
  const deposits = (sinkSchema: string) =>
    defineProjection({
      name: 'deposits',
      version: 1,
      handles: ['Deposited'] as const,
      sink: createPostgresSink({
        pool: bed.db.pool,
        schema: sinkSchema,
        tables: { totals: (t) => `CREATE TABLE ${t} (id text PRIMARY KEY, total bigint NOT NULL)` },
      }),
      async apply(e, { client, table }) {
        await client.query(
          `INSERT INTO ${table('totals')} VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET total = ${table('totals')}.total + excluded.total`,
          [e.streamId, (e.data as { amount: number }).amount],
        )
      },
    })

  it('runs, reports and rebuilds two deployments of one projection side by side, each in its own prefixed tables', async () => {
    for (const tablePrefix of ['p_', 'q_']) {
      expect((await migrateProjections({ pool: bed.db.pool, tablePrefix })).applied).toEqual([
        '0001-projections',
        '0002-lease-version',
        '0003-partitions',
      ])
    }
    for (let i = 0; i < 30; i++)
      await bed.store.appendToStream(`acc-${i % 3}`, [{ type: 'Deposited', data: { amount: 1 } }])
    const p = bed.runner({ projections: [deposits('rm_p')], tablePrefix: 'p_', controlIntervalMs: 50 })
    const q = bed.runner({ projections: [deposits('rm_q')], tablePrefix: 'q_', controlIntervalMs: 50 })
    await p.start()
    await q.start()
    try {
      await waitUntilApplied(bed.db.pool, p, [deposits('rm_p')])
      await waitUntilApplied(bed.db.pool, q, [deposits('rm_q')])
      for (const sinkSchema of ['rm_p', 'rm_q']) {
        const { rows } = await bed.db.pool.query(`SELECT sum(total)::int AS n FROM ${sinkSchema}.totals`)
        expect(rows[0].n).toBe(30)
      }
      // Each deployment's lease, registry row and checkpoints are in its own tables; the unprefixed ones stay empty.
      const admin = {
        p: createProjectionAdmin({ pool: bed.db.pool, tablePrefix: 'p_' }),
        q: createProjectionAdmin({ pool: bed.db.pool, tablePrefix: 'q_' }),
      }
      const [ps] = await admin.p.status()
      const [qs] = await admin.q.status()
      expect(ps).toMatchObject({ name: 'deposits', owner: p.workerId, liveGeneration: 1 })
      expect(qs).toMatchObject({ name: 'deposits', owner: q.workerId, liveGeneration: 1 })
      expect(await createProjectionAdmin({ pool: bed.db.pool }).status()).toEqual([])
      const checkpoints = await bed.db.pool.query('SELECT projection, generation FROM annals.p_projection_checkpoints')
      expect(checkpoints.rows).toEqual([{ projection: 'deposits', generation: 1 }])

      // A rebuild requested under one prefix rebuilds that deployment only.
      await admin.p.requestRebuild('deposits')
      await waitFor('p in generation 2', async () => (await admin.p.status())[0]?.liveGeneration === 2)
      await waitUntilApplied(bed.db.pool, p, [deposits('rm_p')])
      expect((await admin.q.status())[0]?.liveGeneration).toBe(1)
      const { rows } = await bed.db.pool.query(`SELECT sum(total)::int AS n FROM rm_p.totals`)
      expect(rows[0].n).toBe(30)
    } finally {
      await p.stop()
      await q.stop()
    }
  })
})
