// INTERIM: a minimal gap-safe Postgres log so the worker-process tests can run before
// @annals/store-postgres lands. test/store.ts picks the real store as soon as it exports one.
import type { AppendResult, Event, EventStore, LogWatcher, NewEvent, RecordedEvent } from '@annals/core'
import pg from 'pg'

type Row = {
  global_position: string
  transaction_id: string
  event_id: string
  stream_id: string
  stream_version: string
  type: string
  schema_version: number
  data: unknown
  metadata: Record<string, unknown>
  recorded_at: Date
}

function toEvent(r: Row): RecordedEvent {
  return {
    type: r.type,
    data: r.data,
    eventId: r.event_id,
    streamId: r.stream_id,
    streamVersion: BigInt(r.stream_version),
    globalPosition: BigInt(r.global_position),
    transactionId: BigInt(r.transaction_id),
    schemaVersion: r.schema_version,
    metadata: r.metadata,
    recordedAt: r.recorded_at,
  }
}

const COLS = `global_position::text, transaction_id::text, event_id::text, stream_id, stream_version::text, type,
  schema_version, data, metadata, recorded_at`

export async function migrate({ pool, schema }: { pool: pg.Pool; schema: string }) {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
  await pool.query(`CREATE TABLE IF NOT EXISTS "${schema}".events (
    global_position bigserial PRIMARY KEY,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    stream_id text NOT NULL, stream_version bigint NOT NULL, type text NOT NULL,
    schema_version int NOT NULL DEFAULT 1, data jsonb NOT NULL, metadata jsonb NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_id, stream_version))`)
  await pool.query(`CREATE INDEX IF NOT EXISTS events_log_idx ON "${schema}".events (transaction_id, global_position)`)
}

export function createPostgresEventStore({ pool, schema }: { pool: pg.Pool; schema: string }): EventStore {
  const t = `"${schema}".events`
  async function append(streamId: string, events: readonly NewEvent[]): Promise<AppendResult> {
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [streamId])
      const { rows } = await client.query<{ v: string }>(
        `SELECT coalesce(max(stream_version), 0)::text AS v FROM ${t} WHERE stream_id = $1`,
        [streamId],
      )
      let version = BigInt(rows[0]?.v ?? '0')
      const out: RecordedEvent[] = []
      for (const e of events) {
        version++
        const r = await client.query<Row>(
          `INSERT INTO ${t} (stream_id, stream_version, type, data) VALUES ($1, $2, $3, $4) RETURNING ${COLS}`,
          [streamId, version.toString(), e.type, JSON.stringify(e.data)],
        )
        out.push(toEvent(r.rows[0] as Row))
      }
      await client.query(`SELECT pg_notify('annals_events', '')`)
      await client.query('COMMIT')
      return { streamId, nextExpectedVersion: version, events: out, duplicate: false }
    } catch (error) {
      await client.query('ROLLBACK')
      throw error
    } finally {
      client.release()
    }
  }
  return {
    async readStream(streamId, options) {
      const { rows } = await pool.query<Row>(
        `SELECT ${COLS} FROM ${t} e WHERE stream_id = $1 AND stream_version >= $2 AND stream_version <= $3 ORDER BY e.stream_version`,
        [streamId, (options?.from ?? 1n).toString(), (options?.to ?? 2n ** 62n).toString()],
      )
      const events = rows.map(toEvent)
      return { events, currentVersion: 0n, streamExists: events.length > 0 } as never
    },
    appendToStream: (streamId, events) => append(streamId, events) as never,
    async appendToStreams(appends) {
      const out: AppendResult[] = []
      for (const a of appends) out.push(await append(a.streamId, a.events))
      return out
    },
    importToStream: () => Promise.reject(new Error('not in the interim store')),
    async readAll<E extends Event = Event>(options?: {
      after?: { transactionId: bigint; position: bigint }
      limit?: number
      types?: readonly string[]
    }) {
      const after = options?.after ?? { transactionId: 0n, position: 0n }
      const limit = options?.limit ?? 1000
      const { rows } = await pool.query<Row>(
        // Qualified ORDER BY: the output columns are text casts of the same names.
        `SELECT ${COLS} FROM ${t} e
         WHERE (transaction_id, global_position) > ($1::text::xid8, $2::bigint)
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           AND ($4::text[] IS NULL OR type = ANY($4::text[]))
         ORDER BY e.transaction_id, e.global_position LIMIT $3`,
        [after.transactionId.toString(), after.position.toString(), limit, options?.types ?? null],
      )
      const events = rows.map(toEvent) as RecordedEvent<E>[]
      const last = events[events.length - 1]
      return {
        events,
        checkpoint: last ? { transactionId: last.transactionId, position: last.globalPosition } : after,
        caughtUp: events.length < limit,
      }
    },
  }
}

export async function createPostgresLogWatcher({ pool }: { pool: pg.Pool; schema: string }): Promise<LogWatcher> {
  const listeners = new Set<() => void>()
  const options = (pool as unknown as { options: pg.ClientConfig }).options
  let client: pg.Client | null = null
  let closed = false
  const wake = () => {
    for (const l of listeners) l()
  }
  async function connect(): Promise<void> {
    while (!closed) {
      const c = new pg.Client(options)
      try {
        await c.connect()
        c.on('notification', wake)
        c.on('error', () => {
          if (client === c) {
            client = null
            setTimeout(() => void connect(), 100)
          }
        })
        await c.query('LISTEN annals_events')
        client = c
        wake()
        return
      } catch {
        await c.end().catch(() => {})
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    }
  }
  await connect()
  return {
    onWake(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async close() {
      closed = true
      await client?.end().catch(() => {})
    },
  }
}
