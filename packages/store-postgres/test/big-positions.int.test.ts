import { randomUUID } from 'node:crypto'
import { LOG_START, type LogCheckpoint, type RecordedEvent } from '@annals/core'
import { describe, expect, inject, it } from 'vitest'
import { createPostgresCheckpointStore } from '../src/postgres-checkpoint-store.js'
import { useStoreTestbed } from './fixtures/store-testbed.js'

const schema = 'es'
const bed = useStoreTestbed({ schema, adminUrl: () => inject('annalsPrivatePgUrl') })

describe('positions beyond 2^53', () => {
  it('round-trips positions above Number.MAX_SAFE_INTEGER exactly through append, read and checkpoint', async () => {
    const big = 2n ** 53n + 7n
    await bed.db.pool.query(`ALTER TABLE "es".events ALTER COLUMN global_position RESTART WITH ${big.toString()}`)
    const id = `big-${randomUUID()}`
    const appended = await bed.store.appendToStream(id, [
      { type: 'Big', data: { n: 1 } },
      { type: 'Big', data: { n: 2 } },
    ])
    const positions = appended.events.map((e) => e.globalPosition)
    expect(positions).toEqual([big, big + 1n])
    expect((await bed.store.readStream(id)).events.map((e) => e.globalPosition)).toEqual(positions)
    expect((await bed.store.readStream(id, { untilPosition: big })).events.map((e) => e.globalPosition)).toEqual([big])

    const seen: RecordedEvent[] = []
    let checkpoint: LogCheckpoint = LOG_START
    for (;;) {
      const page = await bed.store.readAll({ after: checkpoint, types: ['Big'], limit: 1 })
      seen.push(...page.events)
      checkpoint = page.checkpoint
      if (page.caughtUp) break
    }
    expect(seen.map((e) => e.globalPosition)).toEqual(positions)
    const last = seen[1] as RecordedEvent
    const checkpoints = createPostgresCheckpointStore({ pool: bed.db.pool, schema })
    const at = { transactionId: last.transactionId, position: last.globalPosition }
    await checkpoints.store('big-consumer', at)
    expect(await checkpoints.load('big-consumer')).toEqual(at)
    expect((await bed.store.readAll({ after: at, types: ['Big'] })).events).toEqual([])
    // Strictly after the first: exactly the second, even though both differ from a double.
    const afterFirst = await bed.store.readAll({
      after: { transactionId: last.transactionId, position: big },
      types: ['Big'],
    })
    expect(afterFirst.events.map((e) => e.globalPosition)).toEqual([big + 1n])
    expect(Number(big + 1n)).toBe(Number(big)) // a double would have lost the difference
  })
})
