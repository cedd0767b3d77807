import { type ImportedEvent, loadAggregate } from '@annals/core'
import { BenchAccount } from '../lib/annals-domain.js'
import { newEvents } from '../lib/annals-events.js'
import { openAnnals, openAnnalsOrSkip } from '../lib/annals-store.js'
import { type BenchContext, progress, timed } from '../lib/context.js'
import { type AccountState, type BenchEvent, evolve, initialState, makeEvents, makeMetadata } from '../lib/domain.js'
import { countRoundTrips } from '../lib/round-trips.js'
import { createDatabase, runCleanups } from '../lib/services.js'
import { latencyPercentiles, nowMs, summarize } from '../lib/stats.js'
import { createEventsTable, rawLoadRunner, seedRawLoad } from './raw-pg.js'

const DAY = 86_400_000

/**
 * Aggregate loads with `loadAggregate`: a 1,000-event stream folded from the first event; a long
 * stream (100,000 events in full mode) with a snapshot every 100 events; time travel on it to
 * random past timestamps (database time of each event, spread over two days by `importToStream`).
 */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  try {
    progress('load: a 1,000-event stream, raw SELECT + fold and Annals loadAggregate')
    const rawDb = await createDatabase('raw_load')
    const rawPool = rawDb.pool(1)
    await createEventsTable(rawPool)
    await seedRawLoad(rawPool)

    const db = await createDatabase('annals_load')
    const ids = ['load.1k', 'load.100k.snap', 'timetravel.p50', 'timetravel.p99']
    const annals = await openAnnalsOrSkip(
      (id, reason) => ctx.skip(id, 'annals', reason),
      ids,
      () => openAnnals(db, 2),
    )
    if (annals) {
      // Neighbours, as in the raw table, so the stream is found among others.
      for (let k = 0; k < (ctx.mode === 'quick' ? 20 : 200); k++)
        await annals.store.appendToStream(`acct-${k}`, newEvents(`acct-${k}`, 1, 100))
      for (let v = 1; v <= 1000; v += 100) await annals.store.appendToStream('load-1k', newEvents('load-1k', v, 100))
      await annals.pool.query('VACUUM ANALYZE')
    }
    await ctx.paired([
      { id: 'raw.load1k', system: 'raw', unit: 'ev/s', fn: rawLoadRunner(rawPool, s.load1kLoads) },
      annals && {
        id: 'load.1k',
        system: 'annals',
        unit: 'ev/s',
        fn: () =>
          timed(async () => {
            for (let i = 0; i < s.load1kLoads; i++) {
              const loaded = await loadAggregate(BenchAccount, { store: annals.store }, 'load-1k')
              if (loaded.state.events !== 1000) throw new Error(`annals load folded ${loaded.state.events} events`)
            }
            return s.load1kLoads * 1000
          }),
      },
    ])
    ctx.noteRoundTrips('load a 1,000-event stream', 'raw', 1)
    if (!annals) return
    ctx.noteRoundTrips(
      'load a 1,000-event stream',
      'annals',
      await countRoundTrips(() => loadAggregate(BenchAccount, { store: annals.store }, 'load-1k')),
    )
    const { store, snapshots } = annals

    const n = s.bigStream
    const big = 'big-stream'
    progress(`annals: importing a ${n.toLocaleString('en-US')}-event stream over two days of recorded time`)
    const base = Date.now() - 2 * DAY
    const step = (2 * DAY - 60_000) / n
    for (let from = 1; from <= n; from += 1000) {
      const count = Math.min(1000, n - from + 1)
      const events: ImportedEvent<BenchEvent>[] = makeEvents(big, from, count).map((e, i) => ({
        ...e,
        metadata: makeMetadata(),
        recordedAt: new Date(base + Math.floor((from + i - 1) * step)),
      }))
      await store.importToStream(big, events)
      if ((from - 1) % 20_000 === 0 && from > 1) progress(`  imported ${(from - 1).toLocaleString('en-US')}`)
    }
    progress('annals: writing a snapshot every 100 events')
    let state: AccountState = initialState()
    for (let from = 1n; from <= BigInt(n); from += 10_000n) {
      const page = await store.readStream(big, { from, limit: 10_000 })
      for (const e of page.events) {
        state = evolve(state, e)
        if (e.streamVersion % 100n === 0n) {
          await snapshots.save({
            streamId: big,
            streamVersion: e.streamVersion,
            globalPosition: e.globalPosition,
            recordedAt: e.recordedAt,
            stateVersion: BenchAccount.stateVersion,
            state,
          })
        }
      }
    }
    if (state.events !== n) throw new Error(`read back ${state.events} events of ${n}`)

    const perLoad: number[] = []
    for (let run = ctx.sizes.warmup ? -1 : 0; run < s.runs; run++) {
      const t0 = nowMs()
      for (let i = 0; i < s.bigStreamLoads; i++) {
        const loaded = await loadAggregate(BenchAccount, { store, snapshots }, big)
        if (loaded.state.events !== n || loaded.snapshotVersion === null) {
          throw new Error(`load of ${big}: ${loaded.state.events} events, snapshot ${String(loaded.snapshotVersion)}`)
        }
      }
      if (run >= 0) perLoad.push((nowMs() - t0) / s.bigStreamLoads)
    }
    ctx.record('load.100k.snap', 'annals', 'ms', summarize(perLoad), `${n.toLocaleString('en-US')} events`)

    const p50s: number[] = []
    const p99s: number[] = []
    let fromSnapshot = 0
    let reads = 0
    for (let run = ctx.sizes.warmup ? -1 : 0; run < s.runs; run++) {
      const latencies: number[] = []
      for (let i = 0; i < s.timeTravelReads; i++) {
        const k = 1 + Math.floor(Math.random() * n) // target: the k-th event's recorded time
        const at = new Date(base + Math.floor((k - 1) * step))
        const t0 = nowMs()
        const loaded = await loadAggregate(BenchAccount, { store, snapshots }, big, { asOf: { time: at } })
        latencies.push(nowMs() - t0)
        // Timestamps are truncated to ms and several events may share one: allow the ties.
        if (loaded.version < BigInt(k) || loaded.version > BigInt(k + 2)) {
          throw new Error(`time travel to event ${k}'s time gave version ${loaded.version}`)
        }
        reads++
        if (loaded.snapshotVersion !== null) fromSnapshot++
      }
      if (run >= 0) {
        const p = latencyPercentiles(latencies)
        p50s.push(p.p50)
        p99s.push(p.p99)
      }
    }
    const note = `${s.timeTravelReads} reads/run, ${((100 * fromSnapshot) / Math.max(1, reads)).toFixed(0)}% from a snapshot`
    ctx.record('timetravel.p50', 'annals', 'ms', summarize(p50s), note)
    ctx.record('timetravel.p99', 'annals', 'ms', summarize(p99s), note)
  } finally {
    await runCleanups(progress)
  }
}
