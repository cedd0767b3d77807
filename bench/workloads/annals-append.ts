import { type EventStore, isConcurrencyError, type NewEvent } from '@annals/core'
import { openAnnals } from '../lib/annals-store.js'
import { type BenchContext, parallel, progress, timed } from '../lib/context.js'
import { type BenchEvent, makeEvents, makeMetadata } from '../lib/domain.js'
import { createDatabase, runCleanups } from '../lib/services.js'
import { nowMs } from '../lib/stats.js'

/** Events as an application appends them: type, data and correlation metadata. */
export function newEvents(streamId: string, from: number, n: number): NewEvent<BenchEvent>[] {
  return makeEvents(streamId, from, n).map((e) => ({ ...e, metadata: makeMetadata() }))
}

/** 8 writers racing on one stream with expected versions for `ms`; returns successes and conflicts. */
export async function hotStream(
  store: EventStore,
  streamId: string,
  ms: number,
): Promise<{ ok: number; conflicts: number }> {
  const deadline = nowMs() + ms
  let ok = 0
  let conflicts = 0
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      let known = 0n
      while (nowMs() < deadline) {
        try {
          const r = await store.appendToStream(streamId, newEvents(streamId, Number(known) + 1, 1), {
            expectedVersion: known,
          })
          known = r.nextExpectedVersion
          ok++
        } catch (error) {
          if (!isConcurrencyError(error)) throw error
          conflicts++
          known = error.actual
        }
      }
    }),
  )
  return { ok, conflicts }
}

/** Annals appends: 1 event/append sequential and 16 writers, 100 events/append, a hot stream. */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  try {
    progress('annals: appends')
    const db = await createDatabase('annals_append')
    const one = await openAnnals(db, 1)
    const many = await openAnnals(db, 16, false)
    let seq = 0
    await ctx.rate('append.1.seq', 'annals', 'ev/s', () =>
      timed(async () => {
        for (let i = 0; i < s.append1Seq; i++) {
          const id = `seq-${seq++}`
          await one.store.appendToStream(id, newEvents(id, 1, 1), { expectedVersion: 'no-stream' })
        }
        return s.append1Seq
      }),
    )
    await Promise.all(Array.from({ length: 16 }, () => many.pool.query('SELECT 1')))
    await ctx.rate('append.1.c16', 'annals', 'ev/s', () =>
      timed(async () => {
        await parallel(s.append1C16, 16, async () => {
          const id = `c16-${seq++}`
          await many.store.appendToStream(id, newEvents(id, 1, 1), { expectedVersion: 'no-stream' })
        })
        return s.append1C16
      }),
    )
    await ctx.rate('append.100.seq', 'annals', 'ev/s', () =>
      timed(async () => {
        for (let i = 0; i < s.append100Seq; i++) {
          const id = `b100-${seq++}`
          await one.store.appendToStream(id, newEvents(id, 1, 100), { expectedVersion: 'no-stream' })
        }
        return s.append100Seq * 100
      }),
    )
    let ok = 0
    let conflicts = 0
    await ctx.rate(
      'append.hot.8',
      'annals',
      'ops/s',
      () =>
        timed(async () => {
          const r = await hotStream(many.store, `hot-${seq++}`, s.hotMs)
          ok += r.ok
          conflicts += r.conflicts
          return r.ok
        }),
      { note: () => `conflict rate ${((100 * conflicts) / Math.max(1, ok + conflicts)).toFixed(1)}%` },
    )
  } finally {
    await runCleanups(progress)
  }
}
