import type { StoreTables } from '../store-tables.js'
import { EVENT_COLUMNS } from './event-row.js'

/** @internal The read statements of one store. */
export type LogStatements = Readonly<{
  readStream: string
  readAll: string
  readAllTyped: string
  count: string
  head: string
  headTyped: string
}>

/** @internal Builds the read statements of one store. */
export function logStatements(names: StoreTables): LogStatements {
  // A time or position bound only filters rows; on its own the read would go on to the stream's last
  // event. Within a stream, positions and recorded times grow with the version (the append takes
  // both under the stream's row lock, time never before the previous event's), so the first event
  // past the bound ends the read: found by walking the (stream_id, stream_version) index from the
  // start, it bounds the scan to the events actually returned. The CASE keeps unbounded reads from
  // running it (an InitPlan runs when first needed).
  const readStream = `SELECT (SELECT s.version::text FROM ${names.streams} s WHERE s.tenant_id = $7 AND s.stream_id = $1) AS current_version, x.*
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
      SELECT ${EVENT_COLUMNS} FROM ${names.events} e
      WHERE e.tenant_id = $7 AND e.stream_id = $1 AND e.stream_version >= $2::bigint
        AND ($3::bigint IS NULL OR e.stream_version <= $3::bigint)
        AND e.stream_version < CASE WHEN $4::bigint IS NULL AND $5::timestamptz IS NULL THEN 9223372036854775807
          ELSE coalesce((SELECT b.stream_version FROM ${names.events} b
            WHERE b.tenant_id = $7 AND b.stream_id = $1 AND b.stream_version >= $2::bigint
              AND (b.global_position > $4::bigint OR b.recorded_at > $5::timestamptz)
            ORDER BY b.stream_version LIMIT 1), 9223372036854775807) END
        AND ($4::bigint IS NULL OR e.global_position <= $4::bigint)
        AND ($5::timestamptz IS NULL OR e.recorded_at <= $5::timestamptz)
      ORDER BY e.stream_version
      LIMIT $6::bigint
    ) AS x ON true`

  // The fence: every transaction below the oldest one still running has finished, so nothing can
  // appear below it any more. Reading in (transaction_id, global_position) order up to the fence
  // never skips an event that commits late.
  const readAll = `SELECT ${EVENT_COLUMNS} FROM ${names.events} e
    WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
      AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      AND ($4::text IS NULL OR e.tenant_id = $4::text)
    ORDER BY e.transaction_id, e.global_position
    LIMIT $3::bigint`

  // One index range per type (type, transaction_id, global_position), merged: the sort sees at most
  // types x limit rows. When the batch is not full, the checkpoint jumps to the last event below the
  // fence, skipping filtered-out events without reading them.
  const readAllTyped = `WITH fence AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x),
    picked AS (
      SELECT p.* FROM unnest($4::text[]) AS t(type)
      CROSS JOIN LATERAL (
        SELECT e.global_position, e.transaction_id FROM ${names.events} e
        WHERE e.type = t.type AND (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
          AND e.transaction_id < (SELECT x FROM fence) AND ($5::text IS NULL OR e.tenant_id = $5::text)
        ORDER BY e.transaction_id, e.global_position
        LIMIT $3::bigint
      ) AS p
      ORDER BY p.transaction_id, p.global_position
      LIMIT $3::bigint
    ),
    head AS (
      SELECT e.transaction_id, e.global_position FROM ${names.events} e
      WHERE e.transaction_id < (SELECT x FROM fence) AND ($5::text IS NULL OR e.tenant_id = $5::text)
      ORDER BY e.transaction_id DESC, e.global_position DESC
      LIMIT 1
    )
    SELECT (SELECT h.transaction_id::text FROM head h) AS head_tx, (SELECT h.global_position::text FROM head h) AS head_pos, x.*
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
      SELECT ${EVENT_COLUMNS} FROM picked JOIN ${names.events} e
        ON e.transaction_id = picked.transaction_id AND e.global_position = picked.global_position
      ORDER BY e.transaction_id, e.global_position
    ) AS x ON true`

  const count = `SELECT count(*)::text AS n FROM (
      SELECT 1 FROM ${names.events} e
      WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
        AND ($3::text[] IS NULL OR e.type = ANY ($3::text[])) AND ($5::text IS NULL OR e.tenant_id = $5::text)
      LIMIT $4::bigint
    ) AS x`

  // The committed log after a checkpoint, fence or not (a lag figure, not a read): how many events,
  // how many of them sit at or above the fence (committed, but not readable until the oldest running
  // transaction ends: few, and found by a range of the primary key from the fence), and the age of the
  // first one by the database's clock. The typed form takes each type's first event from the type index.
  const headOf = (
    oldest: string,
    typed: string,
    tenantParam: string,
  ) => `WITH f AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x)
    SELECT
      (SELECT count(*) FROM (
        SELECT 1 FROM ${names.events} e
        WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)${typed}
          AND (${tenantParam}::text IS NULL OR e.tenant_id = ${tenantParam}::text)
        LIMIT $3::bigint) AS p)::text AS pending,
      (SELECT count(*) FROM (
        SELECT 1 FROM ${names.events} e
        WHERE e.transaction_id >= (SELECT x FROM f)
          AND (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)${typed}
          AND (${tenantParam}::text IS NULL OR e.tenant_id = ${tenantParam}::text)
        LIMIT $3::bigint) AS h)::text AS held,
      (extract(epoch FROM clock_timestamp() - (${oldest})) * 1000)::bigint::text AS oldest_age_ms`
  const head = headOf(
    `SELECT e.recorded_at FROM ${names.events} e
      WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
        AND ($4::text IS NULL OR e.tenant_id = $4::text)
      ORDER BY e.transaction_id, e.global_position LIMIT 1`,
    '',
    '$4',
  )
  const headTyped = headOf(
    `SELECT min((SELECT e.recorded_at FROM ${names.events} e
        WHERE e.type = t.type AND (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
          AND ($5::text IS NULL OR e.tenant_id = $5::text)
        ORDER BY e.transaction_id, e.global_position LIMIT 1)) FROM unnest($4::text[]) AS t(type)`,
    ' AND e.type = ANY ($4::text[])',
    '$5',
  )

  return { readStream, readAll, readAllTyped, count, head, headTyped }
}
