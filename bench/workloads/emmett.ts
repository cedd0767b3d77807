import { isExpectedVersionConflictError } from '@event-driven-io/emmett'
import { getPostgreSQLEventStore, type PostgresEventStore, readMessagesBatch } from '@event-driven-io/emmett-postgresql'
import { type BenchContext, parallel, progress, timed } from '../lib/context.js'
import { type BenchEvent, evolve, initialState, makeEvents, makeMetadata } from '../lib/domain.js'
import { countRoundTrips } from '../lib/round-trips.js'
import { type BenchDatabase, createDatabase, onCleanup, runCleanups } from '../lib/services.js'
import { nowMs } from '../lib/stats.js'

/** The peer's store on its own database and its own pool of `max` connections (the same pg driver). */
async function openStore(db: BenchDatabase, max: number): Promise<PostgresEventStore> {
  const pool = db.pool(max)
  const store = getPostgreSQLEventStore(db.url, { connectionOptions: { pool } })
  onCleanup(() => store.close())
  await store.schema.migrate()
  return store
}

function withMetadata(events: BenchEvent[]): BenchEvent[] {
  // Emmett stores `metadata` of the event as its message metadata, like Annals' envelope metadata.
  return events.map((e) => ({ ...e, metadata: makeMetadata() }))
}

/** Emmett (event-driven-io/emmett-postgresql) on the append, load and log-read workloads. */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  try {
    progress('emmett: appends')
    const db = await createDatabase('emmett_append')
    const one = await openStore(db, 1)
    let seq = 0
    await ctx.rate('append.1.seq', 'emmett', 'ev/s', () =>
      timed(async () => {
        for (let i = 0; i < s.append1Seq; i++) {
          const id = `seq-${seq++}`
          await one.appendToStream(id, withMetadata(makeEvents(id, 1, 1)), {
            expectedStreamVersion: 'STREAM_DOES_NOT_EXIST',
          })
        }
        return s.append1Seq
      }),
    )
    const many = await openStore(db, 16)
    await ctx.rate('append.1.c16', 'emmett', 'ev/s', () =>
      timed(async () => {
        await parallel(s.append1C16, 16, async () => {
          const id = `c16-${seq++}`
          await many.appendToStream(id, withMetadata(makeEvents(id, 1, 1)), {
            expectedStreamVersion: 'STREAM_DOES_NOT_EXIST',
          })
        })
        return s.append1C16
      }),
    )
    await ctx.rate('append.100.seq', 'emmett', 'ev/s', () =>
      timed(async () => {
        for (let i = 0; i < s.append100Seq; i++) {
          const id = `b100-${seq++}`
          await one.appendToStream(id, withMetadata(makeEvents(id, 1, 100)), {
            expectedStreamVersion: 'STREAM_DOES_NOT_EXIST',
          })
        }
        return s.append100Seq * 100
      }),
    )
    ctx.noteRoundTrips(
      'append 1 event',
      'emmett',
      await countRoundTrips(() =>
        one.appendToStream('rt-1', withMetadata(makeEvents('rt-1', 1, 1)), {
          expectedStreamVersion: 'STREAM_DOES_NOT_EXIST',
        }),
      ),
    )
    ctx.noteRoundTrips(
      'append 100 events',
      'emmett',
      await countRoundTrips(() =>
        one.appendToStream('rt-100', withMetadata(makeEvents('rt-100', 1, 100)), {
          expectedStreamVersion: 'STREAM_DOES_NOT_EXIST',
        }),
      ),
    )
    let conflicts = 0
    let successes = 0
    await ctx.rate(
      'append.hot.8',
      'emmett',
      'ops/s',
      () =>
        timed(async () => {
          const id = `hot-${seq++}`
          const deadline = nowMs() + s.hotMs
          let ok = 0
          await Promise.all(
            Array.from({ length: 8 }, async () => {
              let known = 0n
              while (nowMs() < deadline) {
                try {
                  const r = await many.appendToStream(id, withMetadata(makeEvents(id, Number(known) + 1, 1)), {
                    expectedStreamVersion: known === 0n ? 'STREAM_DOES_NOT_EXIST' : known,
                  })
                  known = r.nextExpectedStreamVersion
                  ok++
                } catch (error) {
                  if (!isExpectedVersionConflictError(error)) throw error
                  conflicts++
                  const current = (error as { current?: unknown }).current
                  known = typeof current === 'bigint' ? current : BigInt(String(current ?? known))
                }
              }
            }),
          )
          successes += ok
          return ok
        }),
      { note: () => `conflict rate ${((100 * conflicts) / Math.max(1, conflicts + successes)).toFixed(1)}%` },
    )
  } finally {
    await runCleanups(progress)
  }

  try {
    progress('emmett: aggregate load of a 1,000-event stream')
    const db = await createDatabase('emmett_load')
    const store = await openStore(db, 1)
    for (let v = 1; v <= 1000; v += 100) {
      await store.appendToStream('load-1k', withMetadata(makeEvents('load-1k', v, 100)))
    }
    let check = 0
    await ctx.rate('load.1k', 'emmett', 'ev/s', () =>
      timed(async () => {
        for (let i = 0; i < s.load1kLoads; i++) {
          const r = await store.aggregateStream('load-1k', { evolve, initialState })
          check = r.state.events
        }
        return s.load1kLoads * 1000
      }),
    )
    if (check !== 1000) throw new Error(`emmett load folded ${check} events, expected 1000`)
    ctx.noteRoundTrips(
      'load a 1,000-event stream',
      'emmett',
      await countRoundTrips(() => store.aggregateStream('load-1k', { evolve, initialState })),
    )
  } finally {
    await runCleanups(progress)
  }

  try {
    progress(`emmett: global log read of ${s.logEvents.toLocaleString('en-US')} events`)
    const db = await createDatabase('emmett_log')
    const pool = db.pool(1)
    const store = getPostgreSQLEventStore(db.url, { connectionOptions: { pool } })
    onCleanup(() => store.close())
    await store.schema.migrate()
    const perStream = Math.max(1, Math.ceil(s.logEvents / 100))
    for (let done = 0; done < s.logEvents; ) {
      const n = Math.min(1000, s.logEvents - done, perStream - (done % perStream))
      const id = `acct-${Math.floor(done / perStream)}`
      await store.appendToStream(id, withMetadata(makeEvents(id, (done % perStream) + 1, n)))
      done += n
    }
    // The same executor Emmett's own consumers poll the log with (readMessagesBatch over pool.execute).
    const { dumbo } = await import('@event-driven-io/dumbo')
    const executor = dumbo({ connectionString: db.url, pool }).execute
    await ctx.rate(
      'log.read',
      'emmett',
      'ev/s',
      () =>
        timed(async () => {
          let after = 0n
          let count = 0
          for (;;) {
            const batch = await readMessagesBatch(executor, { after, batchSize: 1000 })
            if (batch.messages.length === 0) break
            count += batch.messages.length
            after = batch.currentGlobalPosition
          }
          return count
        }),
      { runs: s.longRuns },
    )
    ctx.noteRoundTrips(
      'read 1,000 events of the log',
      'emmett',
      await countRoundTrips(() => readMessagesBatch(executor, { after: 0n, batchSize: 1000 })),
    )
  } finally {
    await runCleanups(progress)
  }
}
