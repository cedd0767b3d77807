import type { Event } from '@annals/core'
import { describe, expect, it } from 'vitest'
import { createProjectionAdmin } from '../src/admin.js'
import { defineProjection } from '../src/projection.js'
import { createPostgresSink } from '../src/sinks/postgres-sink.js'
import { useProjectionsTestBed, waitUntilApplied } from './helpers.js'

type Deposited = Event<'Deposited', { amount: number }>

describe('a projection worker whose Postgres sink connection dies mid-transaction', () => {
  const bed = useProjectionsTestBed()

  it('keeps running, retries the batch on a new connection and neither loses nor parks an event', async () => {
    let killed = 0
    const projection = defineProjection({
      name: 'totals-lost',
      version: 1,
      handles: ['Deposited'] as const,
      sink: createPostgresSink({
        pool: bed.db.pool,
        schema: 'rm',
        tables: { totals: (t) => `CREATE TABLE ${t} (id text PRIMARY KEY, total bigint NOT NULL)` },
      }),
      async apply(e, { client, table }) {
        const write = () =>
          client.query(
            `INSERT INTO ${table('totals')} (id, total) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET total = ${table('totals')}.total + excluded.total`,
            [e.streamId, (e.data as Deposited['data']).amount],
          )
        await write()
        if (e.streamId === 'b' && killed === 0) {
          // The server drops the connection between two statements of the sink's transaction (as a
          // restart does): node-postgres emits `error` on the checked-out client.
          killed = Number((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid)
          const ended = new Promise((resolve) => client.once('end', resolve))
          await bed.db.pool.query('SELECT pg_terminate_backend($1)', [killed])
          await ended
          await write()
        }
      },
    })
    await bed.store.appendToStream('a', [{ type: 'Deposited', data: { amount: 10 } }])
    await bed.store.appendToStream('b', [{ type: 'Deposited', data: { amount: 7 } }])
    await bed.store.appendToStream('a', [{ type: 'Deposited', data: { amount: 5 } }])
    // One attempt per event: had the lost connection counted as the handler's failure, the event
    // would be parked at once and missing from the read model.
    const runner = bed.runner({ projections: [projection], retry: { maxAttempts: 1 } })
    await runner.start()
    try {
      await waitUntilApplied(bed.db.pool, runner, [projection])
      expect(killed).toBeGreaterThan(0)
      const { rows } = await bed.db.pool.query('SELECT id, total::int FROM rm.totals ORDER BY id')
      expect(rows).toEqual([
        { id: 'a', total: 15 },
        { id: 'b', total: 7 },
      ])
      expect(
        await createProjectionAdmin({ pool: bed.db.pool }).listDeadLetters({ projection: projection.name }),
      ).toEqual([])
    } finally {
      await runner.stop()
    }
  })
})
