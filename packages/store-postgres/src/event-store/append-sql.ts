import { createHash } from 'node:crypto'
import type { StoreTables } from '../store-tables.js'
import { TENANT_SQL } from '../tenancy.js'

/** @internal A row of the append function (or of the fast path, which has its shape). */
export type AppendRow = {
  o_stream_index: number | string
  o_duplicate: boolean | string
  /** The stream's version after the append; with `o_conflict`, its version that refused the append. */
  o_next_version: string | null
  o_transaction_id: string | null
  o_recorded_ms: string | null
  o_positions: string | null
  /** Group commit only: this append's expected version was stale, nothing of it was written. */
  o_conflict?: boolean | string | null
  /** Fast path only: the stream's committed version in the statement's snapshot (null: no stream). */
  o_current_version?: string | null
  /** Fast path only: some of the append's caller-chosen ids are already stored (a re-send?). */
  o_seen?: boolean | string | null
}

/** @internal One append statement: its SQL (every parameter cast) and a name to prepare it under. */
export type AppendStatement = Readonly<{ name: string; text: string }>

/** @internal The two append statements of one store. */
export type AppendStatements = Readonly<{
  /** Calls the append function: any append (with `p_partial`, a group commit). */
  append: AppendStatement
  /** The common append as one plain statement; writes nothing (and returns no version) when it does not apply. */
  fast: AppendStatement
}>

function hashName(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 12)
}

/** @internal Builds the append statements of one store. */
export function appendStatements(names: StoreTables): AppendStatements {
  const append = `SELECT o_stream_index, o_duplicate, o_next_version, o_transaction_id, o_recorded_ms, o_positions,
      o_conflict
    FROM ${names.appendFunction}($1::text[], $2::bigint[], $3::integer[], $4::boolean[], $5::uuid[], $6::text[],
      $7::integer[], $8::text[], $9::text[], $10::timestamptz[], $11::integer[], $12::uuid[], $13::text[], $14::text[],
      $15::text[], $16::text[], $17::text[], $18::boolean[], $19::boolean)`

  // The common append (one stream, no re-sent ids, no import, no outbox messages) as one plain SQL
  // statement: cheaper than the function's interpreter. It writes only when the stream is where the
  // caller expects (or new, for 'any' / no-stream); otherwise it writes nothing and returns the
  // stream's committed version, which proves most conflicts at once (see append.ts); the append
  // function finds out the rest (a lost race, a re-send, a racing creation).
  const fast = `WITH seen AS (
      SELECT $9::boolean AND EXISTS (SELECT 1 FROM ${names.events} e WHERE e.event_id = ANY ($4::uuid[])) AS yes
    ), u AS (
      UPDATE ${names.streams} s SET version = s.version + $3::integer,
        last_recorded_at = greatest(date_trunc('milliseconds', clock_timestamp()), s.last_recorded_at)
      WHERE s.tenant_id = ${TENANT_SQL} AND s.stream_id = $1::text AND ($2::bigint = -1 OR ($2::bigint = -2 AND s.version > 0) OR s.version = $2::bigint)
        AND NOT (SELECT yes FROM seen)
      RETURNING s.version - $3::integer AS base, s.last_recorded_at AS at
    ), i AS (
      INSERT INTO ${names.streams} AS s (stream_id, version, last_recorded_at)
      SELECT $1::text, $3::integer, date_trunc('milliseconds', clock_timestamp())
      WHERE $2::bigint IN (-1, 0) AND NOT EXISTS (SELECT 1 FROM u) AND NOT (SELECT yes FROM seen)
      ON CONFLICT (tenant_id, stream_id) DO NOTHING
      RETURNING 0::bigint AS base, s.last_recorded_at AS at
    ), s AS (SELECT * FROM u UNION ALL SELECT * FROM i),
    ins AS (
      INSERT INTO ${names.events} (event_id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at)
      SELECT x.id, $1::text, s.base + x.k, x.t, x.sv, x.d::jsonb, x.m::jsonb, s.at
      FROM s, unnest($4::uuid[], $5::text[], $6::integer[], $7::text[], $8::text[]) WITH ORDINALITY AS x(id, t, sv, d, m, k)
      ORDER BY x.k
      RETURNING global_position, stream_version
    )
    SELECT 1 AS o_stream_index, false AS o_duplicate, (SELECT (s.base + $3::integer)::text FROM s) AS o_next_version,
      -- Only when something was written: a refused append must not take a transaction id, whose commit
      -- would cost a WAL flush.
      (SELECT pg_current_xact_id()::text FROM s) AS o_transaction_id,
      (SELECT (extract(epoch FROM s.at) * 1000)::bigint::text FROM s) AS o_recorded_ms,
      (SELECT string_agg(ins.global_position::text, ',' ORDER BY ins.stream_version) FROM ins) AS o_positions,
      (SELECT c.version::text FROM ${names.streams} c WHERE c.tenant_id = ${TENANT_SQL} AND c.stream_id = $1::text) AS o_current_version,
      (SELECT yes FROM seen) AS o_seen`

  return {
    // The names hash the function and table: two stores on one connection never share a statement.
    append: { name: `annals_append_${hashName(names.appendFunction)}`, text: append },
    fast: { name: `annals_append_fast_${hashName(names.events)}`, text: fast },
  }
}
