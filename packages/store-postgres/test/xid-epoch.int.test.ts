import { LOG_START } from '@annals/core'
import { describe, expect, it } from 'vitest'
import { createPostgresCheckpointStore } from '../src/postgres-checkpoint-store.js'
import { useStoreTestbed } from './fixtures/store-testbed.js'

// A server that has run more than 2^32 transactions: xid8 values carry an epoch, while
// pg_stat_activity still shows 32-bit xids. Positions in the log and the fence report must agree.
const EPOCH = 3n
const schema = 'epoch'
const bed = useStoreTestbed({ schema, throwaway: { xidEpoch: Number(EPOCH) } })

describe('transaction ids beyond 2^32 (xid epoch > 0)', () => {
  it('reads the log, stores checkpoints and names the fence holder with full 64-bit ids', async () => {
    const appended = await bed.store.appendToStream('e-1', [{ type: 'A', data: {} }])
    const transactionId = appended.events[0]?.transactionId as bigint
    expect(transactionId >> 32n).toBe(EPOCH)

    const page = await bed.store.readAll({ after: LOG_START })
    expect(page.events.map((e) => e.transactionId)).toEqual([transactionId])
    const checkpoints = createPostgresCheckpointStore({ pool: bed.db.pool, schema })
    await checkpoints.store('c', page.checkpoint)
    expect(await checkpoints.load('c')).toEqual(page.checkpoint)
    expect((await bed.store.readAll({ after: page.checkpoint })).events).toEqual([])

    const blocker = await bed.db.pool.connect()
    try {
      await blocker.query('BEGIN')
      const { rows } = await blocker.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')
      const fence = await bed.store.logFence()
      expect(fence.fence).toBe(BigInt(rows[0]?.xid as string))
      expect(fence.holders[0]?.transactionId).toBe(fence.fence)
    } finally {
      await blocker.query('ROLLBACK')
      blocker.release()
    }
  })
})
