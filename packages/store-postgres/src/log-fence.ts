import { type SqlRunner, type StoreConnection, toExecutor } from './sql/executor.js'

/** A transaction that holds the global log's fence back (it is running, or prepared and not finished). */
export type FenceHolder = Readonly<{
  /** Backend pid; null for a prepared (two-phase) transaction. */
  pid: number | null
  transactionId: bigint
  /** How long the transaction has been open, in milliseconds. */
  ageMs: number
  applicationName: string
  database: string | null
  state: string
  /** The backend's current or last query (empty when not visible to this role). */
  query: string
  /** The global id of a prepared transaction, else null. */
  preparedGid: string | null
}>

/** Where the commit-safe fence of the global log stands and what holds it. */
export type LogFenceStatus = Readonly<{
  /** Readers deliver events of transactions below this id only. */
  fence: bigint
  /** Oldest first: the first one holds the fence (server-wide, every database counts). */
  holders: readonly FenceHolder[]
}>

type HolderRow = {
  pid: string | null
  xid: string
  age_ms: string
  application_name: string | null
  database: string | null
  state: string | null
  query: string | null
  gid: string | null
}

const FENCE_SQL = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS fence`
// pg_stat_activity and pg_prepared_xacts show 32-bit xids; the log stores 64-bit xid8s. A running
// transaction is at or above the fence, so its xid8 is the fence's epoch (or the next one, when its
// 32 bits wrapped past the fence's) joined to its 32 bits. age() orders 32-bit xids across wraparound.
const HOLDERS_SQL = `WITH f AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::numeric AS x)
  SELECT h.pid, (CASE WHEN base + h.xid32 < f.x THEN base + 4294967296 + h.xid32 ELSE base + h.xid32 END)::text AS xid,
    h.age_ms, h.application_name, h.database, h.state, h.query, h.gid
  FROM (
    SELECT a.pid::text AS pid, a.backend_xid::text::numeric AS xid32,
      (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::bigint::text AS age_ms,
      a.application_name, a.datname::text AS database, a.state, a.query, NULL::text AS gid, age(a.backend_xid) AS age
    FROM pg_stat_activity a WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()
    UNION ALL
    SELECT NULL, p.transaction::text::numeric, (extract(epoch FROM clock_timestamp() - p.prepared) * 1000)::bigint::text,
      p.owner::text, p.database::text, 'prepared', '', p.gid, age(p.transaction)
    FROM pg_prepared_xacts p
  ) h, f, LATERAL (SELECT floor(f.x / 4294967296) * 4294967296 AS base) b
  ORDER BY h.age DESC LIMIT $1`

/** @internal Reads the fence status through any runner (the store's `logFence()` uses its own). */
export async function readLogFenceStatus(runner: SqlRunner, limit = 5): Promise<LogFenceStatus> {
  const [fenceRow] = await runner.query<{ fence: string }>(FENCE_SQL)
  const rows = await runner.query<HolderRow>(HOLDERS_SQL, [limit])
  return {
    fence: BigInt(fenceRow?.fence ?? '0'),
    holders: rows.map((row) => ({
      pid: row.pid === null ? null : Number(row.pid),
      transactionId: BigInt(row.xid),
      ageMs: Number(row.age_ms ?? 0),
      applicationName: row.application_name ?? '',
      database: row.database,
      state: row.state ?? '',
      query: row.query ?? '',
      preparedGid: row.gid,
    })),
  }
}

/**
 * Explains a stalled log reader: the fence and the oldest running transactions holding it back.
 * `store.logFence()` answers the same for a store.
 * @example const { holders } = await getLogFenceStatus({ pool }); console.table(holders)
 */
export function getLogFenceStatus(connection: StoreConnection, limit = 5): Promise<LogFenceStatus> {
  return readLogFenceStatus(toExecutor(connection), limit)
}
