import type { StoreTables } from '../store-tables.js'
import { TENANT_SQL } from '../tenancy.js'

// The append: one statement, one round trip. It locks every stream row in stream-id order (no deadlocks
// between multi-stream appends), checks versions and idempotent re-sends, inserts events and outbox rows
// from arrays, and writes no NOTIFY: the store wakes readers after the commit (see append-runner.ts).
// With p_partial (group commit: appends of unrelated callers sharing one transaction) a version conflict
// is a row (o_conflict) instead of an exception, so one caller's stale version never fails the others.
// Its own failures carry SQLSTATEs of a class Postgres does not use (AN001 version conflict, AN002
// re-used event id, AN003 time going backwards), so map-pg-error.ts never mistakes a foreign
// RAISE (P0001) for them.
/** @internal The append function's DDL; `migrate` re-creates it on every run (CREATE OR REPLACE). */
export function appendFunction(n: StoreTables): string {
  return `CREATE OR REPLACE FUNCTION ${n.appendFunction}(
  p_streams text[], p_expected bigint[], p_counts integer[], p_check_ids boolean[],
  p_ids uuid[], p_types text[], p_schema_versions integer[], p_data text[], p_metadata text[],
  p_recorded_at timestamptz[],
  p_ob_event integer[], p_ob_ids uuid[], p_ob_topics text[], p_ob_keys text[], p_ob_types text[],
  p_ob_payloads text[], p_ob_headers text[], p_ob_envelope boolean[], p_partial boolean
) RETURNS TABLE (o_stream_index integer, o_duplicate boolean, o_next_version text, o_transaction_id text,
  o_recorded_ms text, o_positions text, o_conflict boolean)
LANGUAGE plpgsql AS $annals_append$
DECLARE
  v_n integer := coalesce(array_length(p_streams, 1), 0);
  v_i integer;
  v_lo integer := 1;
  v_hi integer;
  v_version bigint;
  v_last timestamptz;
  v_expected bigint;
  v_now timestamptz;
  v_time timestamptz;
  v_found integer;
  v_first bigint;
  v_pos bigint[];
  v_ver bigint[];
  v_rat timestamptz[];
  v_all bigint[] := '{}';
  v_allv bigint[] := '{}';
  v_allt timestamptz[] := '{}';
  v_alls text[] := '{}';
  v_bad uuid;
  v_fast boolean;
  v_seen boolean;
  v_conflicted text[] := '{}';
  -- The tenant of the transaction (set by the store with SET LOCAL in the append's own message);
  -- every row written takes it from the columns' default, every lookup is filtered by it.
  v_tenant text := ${TENANT_SQL};
BEGIN
  IF v_n > 1 THEN
    -- Several streams: lock them all up front in stream-id order, so that appends naming the same
    -- streams in another order cannot deadlock.
    INSERT INTO ${n.streams} AS s (stream_id, version)
      SELECT u.sid, 0 FROM unnest(p_streams) AS u(sid) ORDER BY u.sid
      ON CONFLICT (tenant_id, stream_id) DO NOTHING;
    PERFORM 1 FROM ${n.streams} s WHERE s.tenant_id = v_tenant AND s.stream_id = ANY (p_streams) ORDER BY s.stream_id FOR UPDATE;
  END IF;

  FOR v_i IN 1..v_n LOOP
    v_hi := v_lo + p_counts[v_i] - 1;
    v_expected := p_expected[v_i];
    v_fast := false;
    v_seen := false;
    IF p_check_ids[v_i] THEN
      v_seen := EXISTS (SELECT 1 FROM ${n.events} e WHERE e.event_id = ANY (p_ids[v_lo:v_hi]));
    END IF;
    IF v_n = 1 AND NOT v_seen AND v_expected <> -1 AND p_recorded_at[v_lo] IS NULL THEN
      -- Fail fast on a hot stream: the committed version (this statement's own snapshot, no lock) already
      -- proves a stale expected version wrong, without queueing on the row lock behind the writer that
      -- made it stale. Versions only grow, so the conflict holds at this statement's snapshot.
      SELECT s.version INTO v_version FROM ${n.streams} s WHERE s.tenant_id = v_tenant AND s.stream_id = p_streams[v_i];
      v_version := coalesce(v_version, 0);
      IF (v_expected >= 0 AND v_version <> v_expected) OR (v_expected = -2 AND v_version = 0) THEN
        RAISE EXCEPTION USING ERRCODE = 'AN001', MESSAGE = 'ANNALS_CONCURRENCY', DETAIL = v_i || '|' || v_version;
      END IF;
    END IF;
    IF v_n = 1 AND p_counts[v_i] > 0 AND NOT v_seen THEN
      -- The common case in one statement: lock the stream row, check the version, move it. Anything
      -- unusual (a conflict, a new stream raced by another, time going backwards) takes the slow path,
      -- which finds out exactly what happened.
      v_now := date_trunc('milliseconds', clock_timestamp());
      UPDATE ${n.streams} s SET version = s.version + p_counts[v_i],
          last_recorded_at = CASE WHEN p_recorded_at[v_lo] IS NULL THEN greatest(v_now, s.last_recorded_at)
                                  ELSE p_recorded_at[v_hi] END
        WHERE s.tenant_id = v_tenant AND s.stream_id = p_streams[v_i]
          AND (v_expected = -1 OR (v_expected = -2 AND s.version > 0) OR s.version = v_expected)
          AND (p_recorded_at[v_lo] IS NULL OR s.last_recorded_at IS NULL OR s.last_recorded_at <= p_recorded_at[v_lo])
        RETURNING s.version - p_counts[v_i], s.last_recorded_at INTO v_version, v_time;
      v_fast := FOUND;
      IF NOT v_fast AND v_expected IN (-1, 0) THEN
        INSERT INTO ${n.streams} AS s (stream_id, version, last_recorded_at)
          VALUES (p_streams[v_i], p_counts[v_i], coalesce(p_recorded_at[v_hi], v_now))
          ON CONFLICT (tenant_id, stream_id) DO NOTHING
          RETURNING 0, s.last_recorded_at INTO v_version, v_time;
        v_fast := FOUND;
      END IF;
      IF v_fast AND p_recorded_at[v_lo] IS NOT NULL THEN v_time := NULL; END IF;
    END IF;

    IF NOT v_fast THEN
    IF v_n = 1 THEN
      INSERT INTO ${n.streams} AS s (stream_id, version) VALUES (p_streams[v_i], 0) ON CONFLICT (tenant_id, stream_id) DO NOTHING;
      PERFORM 1 FROM ${n.streams} s WHERE s.tenant_id = v_tenant AND s.stream_id = p_streams[v_i] FOR UPDATE;
    END IF;
    SELECT s.version, s.last_recorded_at INTO v_version, v_last FROM ${n.streams} s WHERE s.tenant_id = v_tenant AND s.stream_id = p_streams[v_i];

    IF p_check_ids[v_i] THEN
      SELECT count(*)::integer INTO v_found FROM ${n.events} e WHERE e.event_id = ANY (p_ids[v_lo:v_hi]);
      IF v_found > 0 THEN
        IF v_found <> p_counts[v_i] THEN
          SELECT e.event_id INTO v_bad FROM ${n.events} e WHERE e.event_id = ANY (p_ids[v_lo:v_hi]) LIMIT 1;
          RAISE EXCEPTION USING ERRCODE = 'AN002', MESSAGE = 'ANNALS_DUPLICATE_EVENT_ID',
            DETAIL = v_i || '|' || v_bad || '|some ids of this append were already stored, others not';
        END IF;
        SELECT e.stream_version INTO v_first FROM ${n.events} e
          WHERE e.event_id = p_ids[v_lo] AND e.tenant_id = v_tenant AND e.stream_id = p_streams[v_i];
        SELECT x.id INTO v_bad
          FROM unnest(p_ids[v_lo:v_hi], p_types[v_lo:v_hi], p_data[v_lo:v_hi]) WITH ORDINALITY AS x(id, t, d, k)
          LEFT JOIN ${n.events} e ON e.event_id = x.id
          WHERE v_first IS NULL OR e.tenant_id IS DISTINCT FROM v_tenant OR e.stream_id IS DISTINCT FROM p_streams[v_i]
             OR e.stream_version <> v_first + x.k - 1 OR e.type <> x.t OR e.data <> x.d::jsonb
          ORDER BY x.k LIMIT 1;
        IF FOUND THEN
          RAISE EXCEPTION USING ERRCODE = 'AN002', MESSAGE = 'ANNALS_DUPLICATE_EVENT_ID',
            DETAIL = v_i || '|' || v_bad || '|it was stored in another stream, at another place or with other content';
        END IF;
        IF (v_expected >= 0 AND v_first - 1 <> v_expected) OR (v_expected = -2 AND v_first = 1) THEN
          RAISE EXCEPTION USING ERRCODE = 'AN002', MESSAGE = 'ANNALS_DUPLICATE_EVENT_ID',
            DETAIL = v_i || '|' || p_ids[v_lo] || '|it was stored after version ' || (v_first - 1) || ', not as expected';
        END IF;
        v_all := v_all || array_fill(NULL::bigint, ARRAY[p_counts[v_i]]);
        v_allv := v_allv || array_fill(NULL::bigint, ARRAY[p_counts[v_i]]);
        v_allt := v_allt || array_fill(NULL::timestamptz, ARRAY[p_counts[v_i]]);
        v_alls := v_alls || array_fill(NULL::text, ARRAY[p_counts[v_i]]);
        o_stream_index := v_i; o_duplicate := true; o_next_version := v_version::text;
        o_transaction_id := NULL; o_recorded_ms := NULL; o_positions := NULL; o_conflict := false;
        RETURN NEXT;
        v_lo := v_hi + 1;
        CONTINUE;
      END IF;
    END IF;

    IF (v_expected >= 0 AND v_version <> v_expected) OR (v_expected = -2 AND v_version = 0) THEN
      IF p_partial THEN
        v_all := v_all || array_fill(NULL::bigint, ARRAY[p_counts[v_i]]);
        v_allv := v_allv || array_fill(NULL::bigint, ARRAY[p_counts[v_i]]);
        v_allt := v_allt || array_fill(NULL::timestamptz, ARRAY[p_counts[v_i]]);
        v_alls := v_alls || array_fill(NULL::text, ARRAY[p_counts[v_i]]);
        v_conflicted := v_conflicted || p_streams[v_i];
        o_stream_index := v_i; o_duplicate := false; o_next_version := v_version::text;
        o_transaction_id := NULL; o_recorded_ms := NULL; o_positions := NULL; o_conflict := true;
        RETURN NEXT;
        v_lo := v_hi + 1;
        CONTINUE;
      END IF;
      RAISE EXCEPTION USING ERRCODE = 'AN001', MESSAGE = 'ANNALS_CONCURRENCY', DETAIL = v_i || '|' || v_version;
    END IF;

    IF p_counts[v_i] = 0 THEN
      o_stream_index := v_i; o_duplicate := false; o_next_version := v_version::text;
      o_transaction_id := NULL; o_recorded_ms := NULL; o_positions := ''; o_conflict := false;
      RETURN NEXT;
      CONTINUE;
    END IF;

    IF p_recorded_at[v_lo] IS NULL THEN
      -- Database time, taken after the stream locks, never before the stream's previous event.
      IF v_now IS NULL THEN v_now := date_trunc('milliseconds', clock_timestamp()); END IF;
      v_time := greatest(v_now, v_last);
    ELSE
      IF v_last IS NOT NULL AND p_recorded_at[v_lo] < v_last THEN
        RAISE EXCEPTION USING ERRCODE = 'AN003', MESSAGE = 'ANNALS_TIME_BACKWARDS',
          DETAIL = v_i || '|' || floor(extract(epoch FROM v_last) * 1000)::bigint;
      END IF;
      v_time := NULL;
    END IF;

    UPDATE ${n.streams} s SET version = v_version + p_counts[v_i],
      last_recorded_at = coalesce(v_time, p_recorded_at[v_hi])
      WHERE s.tenant_id = v_tenant AND s.stream_id = p_streams[v_i];
    END IF;

    WITH ins AS (
      INSERT INTO ${n.events} (event_id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at)
      SELECT x.id, p_streams[v_i], v_version + x.k, x.t, x.sv, x.d::jsonb, x.m::jsonb, coalesce(x.r, v_time)
      FROM unnest(p_ids[v_lo:v_hi], p_types[v_lo:v_hi], p_schema_versions[v_lo:v_hi], p_data[v_lo:v_hi],
                  p_metadata[v_lo:v_hi], p_recorded_at[v_lo:v_hi]) WITH ORDINALITY AS x(id, t, sv, d, m, r, k)
      ORDER BY x.k
      RETURNING global_position, stream_version, recorded_at
    )
    SELECT array_agg(ins.global_position ORDER BY ins.stream_version), array_agg(ins.stream_version ORDER BY ins.stream_version),
      array_agg(ins.recorded_at ORDER BY ins.stream_version)
      INTO v_pos, v_ver, v_rat FROM ins;

    v_all := v_all || v_pos;
    v_allv := v_allv || v_ver;
    v_allt := v_allt || v_rat;
    v_alls := v_alls || array_fill(p_streams[v_i], ARRAY[p_counts[v_i]]);
    o_stream_index := v_i; o_duplicate := false; o_next_version := (v_version + p_counts[v_i])::text;
    o_transaction_id := pg_current_xact_id()::text;
    o_recorded_ms := floor(extract(epoch FROM v_time) * 1000)::bigint::text;
    o_positions := array_to_string(v_pos, ','); o_conflict := false;
    RETURN NEXT;
    v_lo := v_hi + 1;
  END LOOP;

  IF coalesce(array_length(p_ob_event, 1), 0) > 0 THEN
    -- The one place message headers are built: correlation from the metadata, the envelope when asked
    -- for, the message's own over them; a positional header, whoever named it, has the real value.
    WITH msg AS (
      SELECT o.*, p_metadata[o.ev]::jsonb AS meta,
        jsonb_build_object(
          'annals-stream-version', v_allv[o.ev]::text,
          'annals-global-position', v_all[o.ev]::text,
          'annals-recorded-at', to_char(v_allt[o.ev] AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) AS pos
      FROM unnest(p_ob_event, p_ob_ids, p_ob_topics, p_ob_keys, p_ob_types, p_ob_payloads, p_ob_headers, p_ob_envelope)
        WITH ORDINALITY AS o(ev, mid, topic, pkey, typ, payload, headers, envelope, k)
      WHERE v_all[o.ev] IS NOT NULL
    ), h AS (
      SELECT o.*,
        jsonb_strip_nulls(jsonb_build_object(
          'correlation-id', CASE WHEN jsonb_typeof(o.meta -> 'correlationId') = 'string' THEN o.meta ->> 'correlationId' END,
          'causation-id', CASE WHEN jsonb_typeof(o.meta -> 'causationId') = 'string' THEN o.meta ->> 'causationId' END))
        || CASE WHEN o.envelope THEN jsonb_build_object(
             'annals-event-id', p_ids[o.ev]::text,
             'annals-event-type', p_types[o.ev],
             'annals-stream-id', v_alls[o.ev],
             'annals-schema-version', p_schema_versions[o.ev]::text) || o.pos
           ELSE '{}'::jsonb END
        || o.headers::jsonb AS merged
      FROM msg AS o
    )
    INSERT INTO ${n.outbox} (message_id, topic, partition_key, type, payload, headers, event_id, event_position)
    SELECT h.mid, h.topic, h.pkey, h.typ, h.payload::jsonb,
      h.merged || coalesce((SELECT jsonb_object_agg(p.key, p.value) FROM jsonb_each(h.pos) AS p WHERE h.merged ? p.key),
        '{}'::jsonb),
      p_ids[h.ev], v_all[h.ev]
    FROM h
    ORDER BY h.k;
  END IF;

  IF cardinality(v_conflicted) > 0 THEN
    -- A conflicting append to a stream that did not exist leaves no empty stream row behind.
    DELETE FROM ${n.streams} s WHERE s.tenant_id = v_tenant AND s.stream_id = ANY (v_conflicted) AND s.version = 0;
  END IF;
END
$annals_append$`
}

/**
 * @internal Drops the append functions of earlier releases (0.1: no `p_ob_envelope`; 0.2: no
 * `p_partial`): a new argument list is a new function to Postgres, and an old one must not linger
 * beside it.
 */
export function dropOldAppendFunctions(n: StoreTables): string[] {
  const common = `text[], bigint[], integer[], boolean[], uuid[], text[], integer[], text[], text[], timestamptz[],
    integer[], uuid[], text[], text[], text[], text[], text[]`
  return [
    `DROP FUNCTION IF EXISTS ${n.appendFunction}(${common})`,
    `DROP FUNCTION IF EXISTS ${n.appendFunction}(${common}, boolean[])`,
  ]
}
