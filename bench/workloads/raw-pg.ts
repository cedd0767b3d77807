import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { type BenchContext, parallel, progress, timed } from '../lib/context.js'
import { evolve, initialState, makeEvent, makeEvents, makeMetadata } from '../lib/domain.js'
import { createDatabase, runCleanups } from '../lib/services.js'

/**
 * A table shaped like an events table (the same columns, keys and unique constraints an event store
 * needs), so the raw figures are the ceiling for the same work with the same driver.
 */
const EVENTS_DDL = `
CREATE TABLE events (
  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  stream_id text NOT NULL,
  version bigint NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, version)
)`

const INSERT1 =
  'INSERT INTO events (event_id, stream_id, version, type, data, metadata) VALUES ($1, $2, $3, $4, $5, $6)'

function insertMany(rows: number): string {
  const values: string[] = []
  for (let r = 0; r < rows; r++) {
    const b = r * 6
    values.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6})`)
  }
  return `INSERT INTO events (event_id, stream_id, version, type, data, metadata) VALUES ${values.join(', ')}`
}

/** Parameters of `n` rows of stream `streamId` starting at version `fromVersion` (1-based). */
function rowParams(streamId: string, fromVersion: number, n: number): unknown[] {
  const params: unknown[] = []
  const events = makeEvents(streamId, fromVersion, n)
  for (let i = 0; i < n; i++) {
    const e = events[i]!
    params.push(randomUUID(), streamId, fromVersion + i, e.type, JSON.stringify(e.data), JSON.stringify(makeMetadata()))
  }
  return params
}

/** Fills `events` with `total` rows, 100 streams of `total/100` events, in multi-row INSERTs of 1,000. */
export async function seedRawEvents(pool: pg.Pool, total: number, label: string): Promise<void> {
  const perStream = Math.max(1, Math.ceil(total / 100))
  const sql = insertMany(1000)
  let done = 0
  let lastReport = 0
  while (done < total) {
    const n = Math.min(1000, total - done)
    const params: unknown[] = []
    for (let i = 0; i < n; i++) {
      const k = done + i
      const stream = `acct-${Math.floor(k / perStream)}`
      const version = (k % perStream) + 1
      const e = makeEvent(stream, version)
      params.push(randomUUID(), stream, version, e.type, JSON.stringify(e.data), JSON.stringify(makeMetadata()))
    }
    await pool.query(n === 1000 ? sql : insertMany(n), params)
    done += n
    if (done - lastReport >= 100_000) {
      lastReport = done
      progress(`  ${label}: seeded ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`)
    }
  }
  await pool.query('VACUUM ANALYZE events')
}

/** Creates the raw events table. */
export async function createEventsTable(pool: pg.Pool): Promise<void> {
  await pool.query(EVENTS_DDL)
}

/** Raw single-row and multi-row INSERT runners on `one` (1 connection) and `many` (16 connections). */
export function rawAppendRunners(ctx: BenchContext, one: pg.Pool, many: pg.Pool) {
  const s = ctx.sizes
  let seq = 0
  const sql100 = insertMany(100)
  return {
    insert1Seq: () =>
      timed(async () => {
        for (let i = 0; i < s.append1Seq; i++) await one.query(INSERT1, rowParams(`seq-${seq++}`, 1, 1))
        return s.append1Seq
      }),
    insert1C16: () =>
      timed(async () => {
        await parallel(s.append1C16, 16, async () => {
          await many.query(INSERT1, rowParams(`c16-${seq++}`, 1, 1))
        })
        return s.append1C16
      }),
    insert100Seq: () =>
      timed(async () => {
        for (let i = 0; i < s.append100Seq; i++) await one.query(sql100, rowParams(`b100-${seq++}`, 1, 100))
        return s.append100Seq * 100
      }),
  }
}

/** Reads the whole raw table by keyset pages of 1,000 (the same columns an event envelope needs). */
export function rawKeysetRunner(pool: pg.Pool) {
  return () =>
    timed(async () => {
      let after = '0'
      let count = 0
      for (;;) {
        const res = await pool.query(
          'SELECT position, event_id, stream_id, version, type, data, metadata, recorded_at FROM events WHERE position > $1 ORDER BY position LIMIT 1000',
          [after],
        )
        if (res.rows.length === 0) break
        count += res.rows.length
        after = String((res.rows[res.rows.length - 1] as { position: string }).position)
      }
      return count
    })
}

/** Seeds the raw table for the one-stream load: 20,000 neighbour rows and the 1,000-row stream `load-1k`. */
export async function seedRawLoad(pool: pg.Pool): Promise<void> {
  await seedRawEvents(pool, 20_000, 'raw load')
  await pool.query(insertMany(1000), rowParams('load-1k', 1, 1000))
  await pool.query('VACUUM ANALYZE events')
}

/** SELECT of the 1,000-row stream plus the same fold the aggregate runs, `loads` times per run. */
export function rawLoadRunner(pool: pg.Pool, loads: number) {
  return () =>
    timed(async () => {
      for (let i = 0; i < loads; i++) {
        const res = await pool.query(
          'SELECT position, event_id, stream_id, version, type, data, metadata, recorded_at FROM events WHERE stream_id = $1 ORDER BY version',
          ['load-1k'],
        )
        let state = initialState()
        for (const row of res.rows as { type: string; data: unknown }[]) state = evolve(state, row)
        if (state.events !== 1000) throw new Error(`raw load folded ${state.events} events, expected 1000`)
      }
      return loads * 1000
    })
}

/** Raw ceiling of a Postgres read model: multi-row upserts of 1,000 balance rows. */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  try {
    progress('raw pg: read-model upserts')
    const db = await createDatabase('raw_upsert')
    const pool = db.pool(1)
    await pool.query(
      'CREATE TABLE balances (account_id text PRIMARY KEY, balance bigint NOT NULL, events bigint NOT NULL, updated_at timestamptz NOT NULL)',
    )
    const values: string[] = []
    for (let r = 0; r < 1000; r++) values.push(`($${r * 3 + 1}, $${r * 3 + 2}, 1, $${r * 3 + 3})`)
    const upsert = `INSERT INTO balances (account_id, balance, events, updated_at) VALUES ${values.join(', ')}
      ON CONFLICT (account_id) DO UPDATE SET balance = balances.balance + EXCLUDED.balance, events = balances.events + 1, updated_at = EXCLUDED.updated_at`
    const total = s.redisWrites
    await ctx.rate(
      'raw.pg.upsert',
      'raw',
      'ev/s',
      () =>
        timed(async () => {
          for (let done = 0; done < total; done += 1000) {
            const params: unknown[] = []
            const now = new Date()
            // 1,000 distinct keys per statement (ON CONFLICT cannot touch one row twice), 10,000 keys overall.
            for (let r = 0; r < 1000; r++) params.push(`acct-${(done + r) % 10_000}`, (r % 97) + 1, now)
            await pool.query(upsert, params)
          }
          return total
        }),
      { runs: s.longRuns },
    )
  } finally {
    await runCleanups(progress)
  }
}
