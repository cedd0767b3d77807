import { createHash } from 'node:crypto'
import type { StoreTables } from '../store-tables.js'

/** @internal A row of the append function (or of the fast path, which has its shape). */
export type AppendRow = {
  o_stream_index: number | string
  o_duplicate: boolean | string
  o_next_version: string
  o_transaction_id: string | null
  o_recorded_ms: string | null
  o_positions: string | null
}

/** @internal The two append statements and, for node-postgres, their prepared-statement names. */
export type AppendStatements = Readonly<{
  /** Calls the append function: any append. */
  append: string
  appendName: string | undefined
  /** The common append as one plain statement; writes nothing (and returns no version) when it does not apply. */
  fast: string
  fastName: string | undefined
}>

function hashName(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 12)
}

/** @internal Builds the append statements of one store. */
export function appendStatements(names: StoreTables, prepared: boolean): AppendStatements {
  const append = `SELECT o_stream_index, o_duplicate, o_next_version, o_transaction_id, o_recorded_ms, o_positions
    FROM ${names.appendFunction}($1::text[], $2::bigint[], $3::integer[], $4::boolean[], $5::uuid[], $6::text[],
      $7::integer[], $8::text[], $9::text[], $10::timestamptz[], $11::integer[], $12::uuid[], $13::text[], $14::text[],
      $15::text[], $16::text[], $17::text[], $18::boolean[])`

  // The common append (one stream, no re-sent ids, no import, no outbox messages) as one plain SQL
  // statement: cheaper than the function's interpreter. It writes only when the stream is where the
  // caller expects (or new, for 'any' / no-stream); otherwise it writes nothing and returns no base,
  // and the append function runs to find out what happened (conflict, re-send, racing creation).
  const fast = `WITH u AS (
      UPDATE ${names.streams} s SET version = s.version + $3::integer,
        last_recorded_at = greatest(date_trunc('milliseconds', clock_timestamp()), s.last_recorded_at)
      WHERE s.stream_id = $1 AND ($2::bigint = -1 OR ($2::bigint = -2 AND s.version > 0) OR s.version = $2::bigint)
        AND NOT ($9::boolean AND EXISTS (SELECT 1 FROM ${names.events} e WHERE e.event_id = ANY ($4::uuid[])))
      RETURNING s.version - $3::integer AS base, s.last_recorded_at AS at
    ), i AS (
      INSERT INTO ${names.streams} AS s (stream_id, version, last_recorded_at)
      SELECT $1, $3::integer, date_trunc('milliseconds', clock_timestamp())
      WHERE $2::bigint IN (-1, 0) AND NOT EXISTS (SELECT 1 FROM u)
        AND NOT ($9::boolean AND EXISTS (SELECT 1 FROM ${names.events} e WHERE e.event_id = ANY ($4::uuid[])))
      ON CONFLICT (stream_id) DO NOTHING
      RETURNING 0::bigint AS base, s.last_recorded_at AS at
    ), s AS (SELECT * FROM u UNION ALL SELECT * FROM i),
    ins AS (
      INSERT INTO ${names.events} (event_id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at)
      SELECT x.id, $1, s.base + x.k, x.t, x.sv, x.d::jsonb, x.m::jsonb, s.at
      FROM s, unnest($4::uuid[], $5::text[], $6::integer[], $7::text[], $8::text[]) WITH ORDINALITY AS x(id, t, sv, d, m, k)
      ORDER BY x.k
      RETURNING global_position, stream_version
    )
    SELECT 1 AS o_stream_index, false AS o_duplicate, (SELECT (s.base + $3::integer)::text FROM s) AS o_next_version,
      pg_current_xact_id()::text AS o_transaction_id,
      (SELECT (extract(epoch FROM s.at) * 1000)::bigint::text FROM s) AS o_recorded_ms,
      (SELECT string_agg(ins.global_position::text, ',' ORDER BY ins.stream_version) FROM ins) AS o_positions`

  return {
    append,
    // The statement names hash the function and table: two stores on one pool never share a plan.
    appendName: prepared ? `annals_append_${hashName(names.appendFunction)}` : undefined,
    fast,
    fastName: prepared ? `annals_append_fast_${hashName(names.events)}` : undefined,
  }
}
