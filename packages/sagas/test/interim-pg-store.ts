// INTERIM: a small Postgres event store (stream versions, event-id duplicates, gap-safe log, NOTIFY)
// so the saga crash tests run on a real database before @annals/store-postgres exports its API.
// test/store.ts switches to the real store as soon as it does.
import {
  type AppendResult,
  ConcurrencyError,
  canonicalJson,
  DuplicateEventIdError,
  type Event,
  type EventStore,
  type ExpectedVersion,
  type LogCheckpoint,
  type LogWatcher,
  matchesExpectedVersion,
  type NewEvent,
  type RecordedEvent,
} from '@annals/core'
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

const COLS = `global_position::text, transaction_id::text, event_id::text, stream_id, stream_version::text, type,
  schema_version, data, metadata, recorded_at`

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

export async function migrate({ pool, schema }: { pool: pg.Pool; schema: string }) {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
  await pool.query(`CREATE TABLE IF NOT EXISTS "${schema}".events (
    global_position bigserial PRIMARY KEY,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id uuid NOT NULL UNIQUE,
    stream_id text NOT NULL, stream_version bigint NOT NULL, type text NOT NULL,
    schema_version int NOT NULL DEFAULT 1, data jsonb NOT NULL, metadata jsonb NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_id, stream_version))`)
  await pool.query(`CREATE INDEX IF NOT EXISTS events_log_idx ON "${schema}".events (transaction_id, global_position)`)
}

export function createPostgresEventStore({ pool, schema }: { pool: pg.Pool; schema: string }): EventStore {
  const t = `"${schema}".events`
  async function append(streamId: string, events: readonly NewEvent[], expected: ExpectedVersion) {
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [streamId])
      const { rows } = await client.query<{ v: string }>(
        `SELECT coalesce(max(stream_version), 0)::text AS v FROM ${t} WHERE stream_id = $1`,
        [streamId],
      )
      const actual = BigInt(rows[0]?.v ?? '0')
      const ids = events.map((e) => e.eventId).filter((id): id is string => id !== undefined)
      const existing =
        ids.length === 0
          ? []
          : (await client.query<Row>(`SELECT ${COLS} FROM ${t} WHERE event_id = ANY($1::uuid[])`, [ids])).rows.map(
              toEvent,
            )
      if (existing.length > 0) {
        await client.query('ROLLBACK')
        const byId = new Map(existing.map((e) => [e.eventId, e]))
        const first = byId.get(events[0]?.eventId ?? '')
        const same =
          existing.length === events.length &&
          first !== undefined &&
          events.every((e, i) => {
            const s = byId.get(e.eventId ?? '')
            return (
              s !== undefined &&
              s.streamId === streamId &&
              s.streamVersion === first.streamVersion + BigInt(i) &&
              canonicalJson({ type: s.type, data: s.data }) === canonicalJson({ type: e.type, data: e.data ?? null })
            )
          }) &&
          matchesExpectedVersion(expected, first.streamVersion - 1n)
        if (!same) throw new DuplicateEventIdError(existing[0]?.eventId ?? '', streamId, 'already stored elsewhere')
        return {
          streamId,
          nextExpectedVersion: first.streamVersion + BigInt(events.length) - 1n,
          events: [],
          duplicate: true,
        }
      }
      if (!matchesExpectedVersion(expected, actual)) {
        await client.query('ROLLBACK')
        throw new ConcurrencyError(streamId, expected, actual)
      }
      let version = actual
      const out: RecordedEvent[] = []
      for (const e of events) {
        version++
        const r = await client.query<Row>(
          `INSERT INTO ${t} (event_id, stream_id, stream_version, type, schema_version, data, metadata)
           VALUES (coalesce($1::uuid, gen_random_uuid()), $2, $3, $4, $5, $6, $7) RETURNING ${COLS}`,
          [
            e.eventId ?? null,
            streamId,
            version.toString(),
            e.type,
            e.schemaVersion ?? 1,
            JSON.stringify(e.data ?? null),
            JSON.stringify(e.metadata ?? {}),
          ],
        )
        out.push(toEvent(r.rows[0] as Row))
      }
      await client.query(`SELECT pg_notify('annals_events', '')`)
      await client.query('COMMIT')
      return { streamId, nextExpectedVersion: version, events: out, duplicate: false }
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      // A concurrent insert of the same event id.
      if ((error as { code?: string }).code === '23505') {
        throw new DuplicateEventIdError(events[0]?.eventId ?? '', streamId, 'concurrent insert')
      }
      throw error
    } finally {
      client.release()
    }
  }
  return {
    async readStream(streamId, options) {
      const { rows } = await pool.query<Row>(
        `SELECT ${COLS} FROM ${t} e WHERE stream_id = $1 AND e.stream_version >= $2 AND e.stream_version <= $3
         ORDER BY e.stream_version LIMIT $4`,
        [
          streamId,
          (options?.from ?? 1n).toString(),
          (options?.to ?? 2n ** 62n).toString(),
          options?.limit ?? 1_000_000,
        ],
      )
      const head = await pool.query<{ v: string }>(
        `SELECT coalesce(max(stream_version), 0)::text AS v FROM ${t} WHERE stream_id = $1`,
        [streamId],
      )
      const currentVersion = BigInt(head.rows[0]?.v ?? '0')
      return { events: rows.map(toEvent), currentVersion, streamExists: currentVersion > 0n } as never
    },
    appendToStream: (streamId, events, options) => append(streamId, events, options?.expectedVersion ?? 'any') as never,
    async appendToStreams(appends) {
      const out: AppendResult[] = []
      for (const a of appends) out.push(await append(a.streamId, a.events, a.expectedVersion ?? 'any'))
      return out
    },
    importToStream: () => Promise.reject(new Error('not in the interim store')),
    async readAll<E extends Event = Event>(options?: {
      after?: LogCheckpoint
      limit?: number
      types?: readonly string[]
    }) {
      const after = options?.after ?? { transactionId: 0n, position: 0n }
      const limit = options?.limit ?? 1000
      const { rows } = await pool.query<Row>(
        `SELECT ${COLS} FROM ${t} e
         WHERE (e.transaction_id, e.global_position) > ($1::text::xid8, $2::bigint)
           AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           AND ($4::text[] IS NULL OR e.type = ANY($4::text[]))
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
  const client = new pg.Client(options)
  await client.connect()
  client.on('notification', () => {
    for (const l of listeners) l()
  })
  client.on('error', () => {})
  await client.query('LISTEN annals_events')
  return {
    onWake(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async close() {
      await client.end().catch(() => {})
    },
  }
}
