// Append and global-log read rates of the store against raw SQL doing the same inserts/reads, on the
// shared server (127.0.0.1:5432) in a throwaway database. Run:
//   pnpm --filter @annals/store-postgres exec tsx --conditions=@annals/source bench/append-read.bench.ts
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { createPostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { migrate } from '../src/migrate.js'
import { createTestDatabase } from '../src/testing/test-database.js'
import { startThrowawayPostgres } from '../src/testing/throwaway-postgres.js'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const SINGLE = Number(process.env.SINGLE ?? 300)
const BATCHES = Number(process.env.BATCHES ?? 30)
const READ_TOTAL = Number(process.env.READ_TOTAL ?? 100_000)

// PRIVATE=1: a private cluster (fsync off: measures the store's own cost, without the shared server's load).
const server = process.env.PRIVATE === '1' ? await startThrowawayPostgres() : null
const db = await createTestDatabase('annals_pg_bench', {
  poolSize: 2,
  ...(server ? { adminUrl: server.connectionString } : {}),
})
const one = new pg.Pool({ connectionString: db.connectionString, max: 1 })
try {
  await migrate({ pool: one, schema: 'annals' })
  const store = createPostgresEventStore({ pool: one, schema: 'annals' })
  await one.query(`CREATE SCHEMA raw; CREATE TABLE raw.events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id uuid NOT NULL UNIQUE, stream_id text NOT NULL,
    version bigint NOT NULL, type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_id, version))`)
  const data = () => ({ accountId: randomUUID(), cents: 1234, currency: 'EUR', note: 'deposit at the counter' })
  const metadata = () => ({ correlationId: randomUUID(), causationId: randomUUID(), userId: 'u-42' })
  const insertMany = (rows: number) =>
    `INSERT INTO raw.events (event_id, stream_id, version, type, data, metadata) VALUES ${Array.from(
      { length: rows },
      (_, r) => `($${r * 6 + 1}, $${r * 6 + 2}, $${r * 6 + 3}, $${r * 6 + 4}, $${r * 6 + 5}, $${r * 6 + 6})`,
    ).join(', ')}`
  const insert1 = insertMany(1)
  const insert100 = insertMany(100)

  const rate = async (events: number, work: () => Promise<void>) => {
    const start = process.hrtime.bigint()
    await work()
    return events / (Number(process.hrtime.bigint() - start) / 1e9)
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  const results: Record<string, number[]> = { raw1: [], annals1: [], raw100: [], annals100: [] }

  // Raw and Annals operations alternate one by one, so that load from other processes on the server
  // hits both alike; each side's rate is its events over the time spent in its own operations.
  const timeOf = async (work: () => Promise<unknown>) => {
    const start = process.hrtime.bigint()
    await work()
    return Number(process.hrtime.bigint() - start) / 1e9
  }
  for (let round = 0; round < ROUNDS; round++) {
    const rawStream = `raw-${randomUUID()}`
    const stream = `acct-${randomUUID()}`
    let rawSeconds = 0
    let annalsSeconds = 0
    for (let i = 0; i < SINGLE; i++) {
      const row = [randomUUID(), rawStream, i + 1, 'MoneyDeposited', JSON.stringify(data()), JSON.stringify(metadata())]
      rawSeconds += await timeOf(() => one.query(insert1, row))
      const event = { type: 'MoneyDeposited', data: data(), metadata: metadata() }
      annalsSeconds += await timeOf(() => store.appendToStream(stream, [event], { expectedVersion: BigInt(i) }))
    }
    results.raw1?.push(SINGLE / rawSeconds)
    results.annals1?.push(SINGLE / annalsSeconds)
    rawSeconds = 0
    annalsSeconds = 0
    for (let b = 0; b < BATCHES; b++) {
      const params: unknown[] = []
      for (let i = 1; i <= 100; i++) {
        params.push(
          randomUUID(),
          rawStream,
          SINGLE + b * 100 + i,
          'MoneyDeposited',
          JSON.stringify(data()),
          JSON.stringify(metadata()),
        )
      }
      rawSeconds += await timeOf(() => one.query(insert100, params))
      const events = Array.from({ length: 100 }, () => ({ type: 'MoneyDeposited', data: data(), metadata: metadata() }))
      annalsSeconds += await timeOf(() =>
        store.appendToStream(stream, events, { expectedVersion: BigInt(SINGLE + b * 100) }),
      )
    }
    results.raw100?.push((BATCHES * 100) / rawSeconds)
    results.annals100?.push((BATCHES * 100) / annalsSeconds)
  }

  // Global log: fill to READ_TOTAL events, then read it all in batches of 1,000.
  const { rows } = await one.query<{ n: string }>('SELECT count(*)::text AS n FROM annals.events')
  let have = Number(rows[0]?.n)
  while (have < READ_TOTAL) {
    const n = Math.min(1000, READ_TOTAL - have)
    await store.appendToStream(
      `fill-${have}`,
      Array.from({ length: n }, () => ({ type: 'MoneyDeposited', data: data(), metadata: metadata() })),
    )
    have += n
  }
  await one.query('VACUUM ANALYZE annals.events')
  const readRates: number[] = []
  const rawReadRates: number[] = []
  for (let round = 0; round < 3; round++) {
    readRates.push(
      await rate(have, async () => {
        let checkpoint = { transactionId: 0n, position: 0n }
        let seen = 0
        for (;;) {
          const page = await store.readAll({ after: checkpoint, limit: 1000 })
          seen += page.events.length
          checkpoint = page.checkpoint
          if (page.caughtUp) break
        }
        if (seen < have) throw new Error(`read ${seen} of ${have} (is a long transaction holding the fence?)`)
      }),
    )
    // The raw baseline pages through the same (transaction_id, global_position) index without the
    // fence and without decoding envelopes: what is left is the store's own cost. (Paging on
    // global_position alone would need an index of its own, or sort the table on every batch.)
    rawReadRates.push(
      await rate(have, async () => {
        let afterTx = '0'
        let afterPos = '0'
        for (;;) {
          const page = await one.query<{ tx: string; global_position: string }>(
            `SELECT transaction_id::text AS tx, global_position::text AS global_position, event_id, stream_id,
               stream_version::text, type, data, metadata, recorded_at
             FROM annals.events WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
             ORDER BY transaction_id, global_position LIMIT 1000`,
            [afterTx, afterPos],
          )
          const last = page.rows[page.rows.length - 1]
          if (!last) break
          afterTx = last.tx
          afterPos = last.global_position
        }
      }),
    )
  }

  const fmt = (x: number) => Math.round(x).toLocaleString('en-US')
  const line = (label: string, annals: number, raw: number) =>
    `${label.padEnd(34)} annals ${fmt(annals).padStart(8)} ev/s   raw ${fmt(raw).padStart(8)} ev/s   ratio ${(annals / raw).toFixed(2)}`
  const m = (k: string) => median(results[k] ?? [])
  process.stdout.write(
    `rounds=${ROUNDS} (medians), one connection, ${server ? 'private cluster (fsync off)' : 'server 127.0.0.1:5432'}\n`,
  )
  process.stdout.write(`${line('append 1 event/append (sequential)', m('annals1'), m('raw1'))}\n`)
  process.stdout.write(`${line('append 100 events/append', m('annals100'), m('raw100'))}\n`)
  process.stdout.write(
    `${line(`readAll ${fmt(have)} events, batches of 1000`, median(readRates), median(rawReadRates))}\n`,
  )
} finally {
  await one.end()
  await db.drop()
  await server?.stop()
}
