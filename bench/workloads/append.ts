import { hotStream, newEvents } from '../lib/annals-events.js'
import { openAnnals, openAnnalsOrSkip } from '../lib/annals-store.js'
import { type BenchContext, parallel, progress, timed } from '../lib/context.js'
import { countRoundTrips } from '../lib/round-trips.js'
import { createDatabase, runCleanups } from '../lib/services.js'
import { latencyPercentiles, summarize } from '../lib/stats.js'
import { createEventsTable, rawAppendRunners } from './raw-pg.js'

/**
 * Appends, Annals against the raw driver in alternating runs, each on its own database: 1 event per
 * append to new streams (sequential; 16 writers), 100 events per append, and a hot stream with 8
 * writers racing on expected versions (Annals only: successes per second and the conflict rate).
 */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  try {
    progress('append: raw pg and Annals, alternating runs')
    const rawDb = await createDatabase('raw_append')
    const rawOne = rawDb.pool(1)
    const rawMany = rawDb.pool(16)
    await createEventsTable(rawOne)
    await Promise.all(Array.from({ length: 16 }, () => rawMany.query('SELECT 1')))
    const raw = rawAppendRunners(ctx, rawOne, rawMany)

    const db = await createDatabase('annals_append')
    const skip = (id: string, reason: string) => ctx.skip(id, 'annals', reason)
    const ids = ['append.1.seq', 'append.1.c16', 'append.100.seq', 'append.hot.8']
    const one = await openAnnalsOrSkip(skip, ids, () => openAnnals(db, 1))
    const many = one ? await openAnnals(db, 16, false) : null
    if (many) await Promise.all(Array.from({ length: 16 }, () => many.pool.query('SELECT 1')))
    const grouped = one ? await openAnnals(db, 16, false, { groupCommit: true }) : null
    if (grouped) await Promise.all(Array.from({ length: 16 }, () => grouped.pool.query('SELECT 1')))
    let seq = 0

    await ctx.paired([
      { id: 'raw.insert1.seq', system: 'raw', unit: 'ev/s', fn: raw.insert1Seq },
      one && {
        id: 'append.1.seq',
        system: 'annals',
        unit: 'ev/s',
        fn: () =>
          timed(async () => {
            for (let i = 0; i < s.append1Seq; i++) {
              const id = `seq-${seq++}`
              await one.store.appendToStream(id, newEvents(id, 1, 1), { expectedVersion: 'no-stream' })
            }
            return s.append1Seq
          }),
      },
    ])
    await ctx.paired([
      { id: 'raw.insert1.c16', system: 'raw', unit: 'ev/s', fn: raw.insert1C16 },
      many && {
        id: 'append.1.c16',
        system: 'annals',
        unit: 'ev/s',
        fn: () =>
          timed(async () => {
            await parallel(s.append1C16, 16, async () => {
              const id = `c16-${seq++}`
              await many.store.appendToStream(id, newEvents(id, 1, 1), { expectedVersion: 'no-stream' })
            })
            return s.append1C16
          }),
      },
      grouped && {
        id: 'append.1.c16.gc',
        system: 'annals',
        unit: 'ev/s',
        fn: () =>
          timed(async () => {
            await parallel(s.append1C16, 16, async () => {
              const id = `gc16-${seq++}`
              await grouped.store.appendToStream(id, newEvents(id, 1, 1), { expectedVersion: 'no-stream' })
            })
            return s.append1C16
          }),
      },
    ])
    await ctx.paired([
      { id: 'raw.insert100.seq', system: 'raw', unit: 'ev/s', fn: raw.insert100Seq },
      one && {
        id: 'append.100.seq',
        system: 'annals',
        unit: 'ev/s',
        fn: () =>
          timed(async () => {
            for (let i = 0; i < s.append100Seq; i++) {
              const id = `b100-${seq++}`
              await one.store.appendToStream(id, newEvents(id, 1, 100), { expectedVersion: 'no-stream' })
            }
            return s.append100Seq * 100
          }),
      },
    ])
    // The raw ceilings send one statement per append by construction (autocommit INSERT).
    ctx.noteRoundTrips('append 1 event', 'raw', 1)
    ctx.noteRoundTrips('append 100 events', 'raw', 1)
    if (!one || !many) return
    ctx.noteRoundTrips(
      'append 1 event',
      'annals',
      await countRoundTrips(() =>
        one.store.appendToStream('rt-1', newEvents('rt-1', 1, 1), { expectedVersion: 'no-stream' }),
      ),
    )
    ctx.noteRoundTrips(
      'append 100 events',
      'annals',
      await countRoundTrips(() =>
        one.store.appendToStream('rt-100', newEvents('rt-100', 1, 100), { expectedVersion: 'no-stream' }),
      ),
    )
    let ok = 0
    let conflicts = 0
    const p50s: number[] = []
    const firstAttemptP50s: number[] = []
    await ctx.rate(
      'append.hot.8',
      'annals',
      'ops/s',
      () =>
        timed(async () => {
          const r = await hotStream(many.store, `hot-${seq++}`, s.hotMs)
          ok += r.ok
          conflicts += r.conflicts
          p50s.push(latencyPercentiles(r.successMs).p50)
          firstAttemptP50s.push(latencyPercentiles(r.sinceFirstAttemptMs).p50)
          return r.ok
        }),
      { note: () => `conflict rate ${((100 * conflicts) / Math.max(1, ok + conflicts)).toFixed(1)}%` },
    )
    // The warm-up run (full mode) adds a first entry: drop it so the runs match the rate's.
    const timedRuns = (values: number[]) => (ctx.sizes.warmup ? values.slice(1) : values)
    const fromFirst = summarize(timedRuns(firstAttemptP50s)).median
    ctx.record(
      'append.hot.8.p50',
      'annals',
      'ms',
      summarize(timedRuns(p50s)),
      `the successful append call; from the writer's first attempt, retries included: p50 ${fromFirst.toFixed(2)} ms`,
    )
  } finally {
    await runCleanups(progress)
  }
}
