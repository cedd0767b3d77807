import { type EventStore, LOG_START, type LogCheckpoint } from '@annals/core'
import { openAnnals } from '../lib/annals-store.js'
import { type BenchContext, progress, timed } from '../lib/context.js'
import { createDatabase, runCleanups } from '../lib/services.js'
import { newEvents } from './annals-append.js'

/** Appends `total` events over 100 streams in appends of up to 1,000 events. */
export async function seedLog(store: EventStore, total: number, label: string): Promise<void> {
  const perStream = Math.max(1, Math.ceil(total / 100))
  let lastReport = 0
  for (let done = 0; done < total; ) {
    const n = Math.min(1000, total - done, perStream - (done % perStream))
    const id = `acct-${Math.floor(done / perStream)}`
    await store.appendToStream(id, newEvents(id, (done % perStream) + 1, n))
    done += n
    if (done - lastReport >= 100_000) {
      lastReport = done
      progress(`  ${label}: appended ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`)
    }
  }
}

/** Reads the whole log with `readAll` in batches of 1,000; returns the number of events. */
export async function readWholeLog(store: EventStore): Promise<number> {
  let after: LogCheckpoint = LOG_START
  let count = 0
  for (;;) {
    const batch = await store.readAll({ after, limit: 1000 })
    count += batch.events.length
    after = batch.checkpoint
    if (batch.caughtUp || batch.events.length === 0) break
  }
  return count
}

/** Global log catch-up with the gap-safe reader, from the start to the head. */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  try {
    progress(`annals: global log read of ${s.logEvents.toLocaleString('en-US')} events`)
    const db = await createDatabase('annals_log')
    const { store, pool } = await openAnnals(db, 1)
    await seedLog(store, s.logEvents, 'annals log')
    await pool.query('VACUUM ANALYZE')
    await ctx.rate(
      'log.read',
      'annals',
      'ev/s',
      () =>
        timed(async () => {
          const count = await readWholeLog(store)
          if (count !== s.logEvents) throw new Error(`readAll returned ${count} events, expected ${s.logEvents}`)
          return count
        }),
      { runs: s.longRuns },
    )
  } finally {
    await runCleanups(progress)
  }
}
