import { readWholeLog, seedLog, waitForFence } from '../lib/annals-events.js'
import { ANNALS_SCHEMA, openAnnals, openAnnalsOrSkip } from '../lib/annals-store.js'
import { type BenchContext, progress, timed } from '../lib/context.js'
import { countRoundTrips } from '../lib/round-trips.js'
import { createDatabase, runCleanups } from '../lib/services.js'
import { createEventsTable, rawKeysetRunner, seedRawEvents } from './raw-pg.js'

/**
 * Global log catch-up from the start to the head: the gap-safe `readAll` (batches of 1,000) against
 * raw keyset SELECT pages of 1,000 on a table of the same shape and size, in alternating runs.
 */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  try {
    progress(`log read: ${s.logEvents.toLocaleString('en-US')} events, raw keyset and Annals readAll`)
    const rawDb = await createDatabase('raw_log')
    const rawPool = rawDb.pool(1)
    await createEventsTable(rawPool)
    await seedRawEvents(rawPool, s.logEvents, 'raw keyset')

    const db = await createDatabase('annals_log')
    const annals = await openAnnalsOrSkip(
      (id, reason) => ctx.skip(id, 'annals', reason),
      ['log.read'],
      () => openAnnals(db, 1),
    )
    if (annals) {
      await seedLog(annals.store, s.logEvents, 'annals log')
      await annals.pool.query('VACUUM ANALYZE')
    }
    await ctx.paired(
      [
        { id: 'raw.keyset', system: 'raw', unit: 'ev/s', fn: rawKeysetRunner(rawPool) },
        annals && {
          id: 'log.read',
          system: 'annals',
          unit: 'ev/s',
          fn: async () => {
            // A transaction opened elsewhere on the server during the read holds the fence back: the
            // reader then stops early (correctly). Wait for the fence untimed and measure again.
            for (let attempt = 1; ; attempt++) {
              await waitForFence(annals.pool, ANNALS_SCHEMA)
              const r = await timed(() => readWholeLog(annals.store))
              if (r.count === s.logEvents) return r
              if (attempt === 3) throw new Error(`readAll returned ${r.count} events, expected ${s.logEvents}`)
              progress(`  readAll stopped at ${r.count} events (log fence held back by another transaction); again`)
            }
          },
        },
      ],
      { runs: s.longRuns },
    )
    ctx.noteRoundTrips('read 1,000 events of the log', 'raw', 1)
    if (annals) {
      const trips = await countRoundTrips(() => annals.store.readAll({ limit: 1000 }))
      ctx.noteRoundTrips('read 1,000 events of the log', 'annals', trips)
    }
  } finally {
    await runCleanups(progress)
  }
}
