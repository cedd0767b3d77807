import { randomUUID } from 'node:crypto'
import { type AsOf, defineAggregate, defineCommand, defineEvent, loadAggregate, type RecordedEvent } from '@annals/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createPostgresSnapshotStore } from '../src/postgres-snapshot-store.js'
import { useStoreTestbed } from './fixtures/store-testbed.js'

const Added = defineEvent('Added', z.object({ n: z.number().int() }))
const Add = defineCommand('Add', z.object({ n: z.number().int() }))
// The state is the whole folded list, so any missing, extra or reordered event changes it.
const List = defineAggregate({
  name: 'list',
  events: [Added],
  commands: [Add],
  initialState: (): number[] => [],
  evolve: (state, event) => [...state, event.data.n],
  decide: (command) => ({ type: 'Added' as const, data: { n: command.data.n } }),
})

const schema = 'tt'
const bed = useStoreTestbed({ schema })

const step = fc.record({
  /** Events in this append of the main stream (0: only the other stream moves). */
  count: fc.integer({ min: 0, max: 4 }),
  /** Milliseconds since the previous append (0: same millisecond). */
  advanceMs: fc.constantFrom(0, 1, 7, 1000),
  otherStream: fc.boolean(),
  snapshot: fc.boolean(),
})

describe('time travel', () => {
  it('equals a full replay by version, position and time, for random histories with snapshots', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), fc.nat(), async (steps, seed) => {
        const id = `tt-${randomUUID()}`
        const other = `tt-other-${randomUUID()}`
        const snapshots = createPostgresSnapshotStore({ pool: bed.db.pool, schema, keep: 3 })
        const recorded: RecordedEvent[] = []
        let time = Date.UTC(2024, 0, 1) + seed
        let n = 0
        for (const s of steps) {
          time += s.advanceMs
          if (s.otherStream)
            await bed.store.importToStream(other, [{ type: 'Added', data: { n: -1 }, recordedAt: new Date(time) }])
          if (s.count === 0) continue
          const events = Array.from({ length: s.count }, () => ({
            type: 'Added',
            data: { n: n++ },
            recordedAt: new Date(time),
          }))
          const result = await bed.store.importToStream(id, events)
          recorded.push(...result.events)
          if (s.snapshot) {
            const last = recorded[recorded.length - 1] as RecordedEvent
            await snapshots.save({
              streamId: id,
              streamVersion: last.streamVersion,
              globalPosition: last.globalPosition,
              recordedAt: last.recordedAt,
              stateVersion: 1,
              state: recorded.map((e) => (e.data as { n: number }).n),
            })
          }
        }
        const replay = (keep: (e: RecordedEvent) => boolean) =>
          recorded.filter(keep).map((e) => (e.data as { n: number }).n)
        const targets: [AsOf, number[]][] = []
        for (let v = 0n; v <= BigInt(recorded.length) + 1n; v++) {
          targets.push([{ version: v }, replay((e) => e.streamVersion <= v)])
        }
        for (const e of recorded) {
          for (const p of [e.globalPosition - 1n, e.globalPosition, e.globalPosition + 1n]) {
            targets.push([{ position: p }, replay((x) => x.globalPosition <= p)])
          }
          for (const t of [e.recordedAt.getTime() - 1, e.recordedAt.getTime(), e.recordedAt.getTime() + 1]) {
            targets.push([{ time: new Date(t) }, replay((x) => x.recordedAt.getTime() <= t)])
          }
        }
        for (const [asOf, expected] of targets) {
          const withSnapshots = await loadAggregate(List, { store: bed.store, snapshots }, id, { asOf })
          const fullReplay = await loadAggregate(List, { store: bed.store }, id, { asOf })
          expect(withSnapshots.state).toEqual(expected)
          expect(fullReplay.state).toEqual(expected)
        }
      }),
      { numRuns: 25 },
    )
  })

  it('stamps appends with database time that never goes backwards within a stream', async () => {
    const id = `clock-${randomUUID()}`
    const future = new Date(Date.now() + 3_600_000)
    await bed.store.importToStream(id, [{ type: 'Added', data: { n: 0 }, recordedAt: future }])
    const appended = await bed.store.appendToStream(id, [{ type: 'Added', data: { n: 1 } }])
    // The stream's previous event is an hour ahead of the clock: the append takes its time, not earlier.
    expect(appended.events[0]?.recordedAt.getTime()).toBe(future.getTime())
    const { rows } = await bed.db.pool.query<{ ms: string }>(
      'SELECT (extract(epoch FROM now()) * 1000)::bigint::text AS ms',
    )
    const fresh = await bed.store.appendToStream(`clock-${randomUUID()}`, [{ type: 'Added', data: { n: 2 } }])
    const at = fresh.events[0]?.recordedAt.getTime() ?? 0
    expect(Math.abs(at - Number(rows[0]?.ms))).toBeLessThan(5_000)
    expect((await bed.store.readStream(id)).events.map((e) => e.recordedAt.getTime())).toEqual([
      future.getTime(),
      future.getTime(),
    ])
  })
})
