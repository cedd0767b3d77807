import type { Pool } from 'pg'
import { ProjectionSupersededError } from './errors.js'
import type { ProjectionTables } from './names.js'

/** A held lease: the owner may write for the projection with `token` until `expiresAt`. */
export type Lease = Readonly<{ projection: string; owner: string; token: bigint; expiresAt: Date }>

/** @internal Lease operations on the lease table. One row per projection; the token only grows. */
export type LeaseStore = Readonly<{
  /**
   * Takes the lease when it is free, expired, or already ours; every take bumps the token and records
   * `version`. Null when another worker holds it. Throws `ProjectionSupersededError` when a higher
   * version took the lease or is live or being built: an older definition never takes over.
   */
  acquire(projection: string, owner: string, ttlMs: number, version: number): Promise<Lease | null>
  /** Extends our lease; null when it was taken over (the token changed) — the worker must stop. */
  renew(lease: Lease, ttlMs: number): Promise<Lease | null>
  /** Lets the lease expire now so a standby can take it at once. */
  release(lease: Lease): Promise<void>
  /** Current owners, for status, with the highest version that took each lease. */
  list(): Promise<readonly (Lease & { live: boolean; version: number })[]>
}>

/** @internal */
export function createLeaseStore(pool: Pool, tables: ProjectionTables): LeaseStore {
  const t = tables.leases
  const registered = (r: string) => `greatest(${r}.live_version, coalesce(${r}.building_version, 0))`
  return {
    async acquire(projection, owner, ttlMs, version) {
      // One statement, so the version check cannot be raced: the conflicting lease row is locked and
      // re-read before its WHERE, and only a version at least the recorded one takes it. The token
      // order thus follows the version order, and every write fenced by the token is fenced by
      // version too. The registry's versions guard rows from before the version column.
      const { rows } = await pool.query<{ token: string | null; expires_at: Date | null; highest: number | null }>(
        `WITH taken AS (
           INSERT INTO ${t} AS l (projection, owner, token, expires_at, version)
           SELECT $1, $2, 1, now() + make_interval(secs => $3::double precision / 1000), $4::integer
           WHERE NOT EXISTS (SELECT 1 FROM ${tables.registry} r WHERE r.name = $1 AND ${registered('r')} > $4::integer)
           ON CONFLICT (projection) DO UPDATE
             SET owner = excluded.owner, token = l.token + 1, acquired_at = now(), renewed_at = now(),
                 expires_at = excluded.expires_at, version = excluded.version
             WHERE (l.expires_at < now() OR l.owner = excluded.owner) AND l.version <= excluded.version
           RETURNING token, expires_at
         )
         SELECT taken.token::text, taken.expires_at,
                greatest((SELECT version FROM ${t} WHERE projection = $1),
                         (SELECT ${registered('r')} FROM ${tables.registry} r WHERE r.name = $1)) AS highest
         FROM (SELECT 1) AS one LEFT JOIN taken ON true`,
        [projection, owner, ttlMs, version],
      )
      const row = rows[0]
      if (row?.token && row.expires_at) {
        return { projection, owner, token: BigInt(row.token), expiresAt: row.expires_at }
      }
      // Read before the statement ran: a version that took the lease meanwhile shows on the next try.
      const highest = row?.highest ?? 0
      if (highest > version) throw new ProjectionSupersededError(projection, version, highest)
      return null
    },
    async renew(lease, ttlMs) {
      const { rows } = await pool.query<{ expires_at: Date }>(
        `UPDATE ${t} SET renewed_at = now(), expires_at = now() + make_interval(secs => $4::double precision / 1000)
         WHERE projection = $1 AND owner = $2 AND token = $3::bigint
         RETURNING expires_at`,
        [lease.projection, lease.owner, lease.token.toString(), ttlMs],
      )
      const row = rows[0]
      return row ? { ...lease, expiresAt: row.expires_at } : null
    },
    async release(lease) {
      await pool.query(
        `UPDATE ${t} SET expires_at = now() - interval '1 millisecond'
         WHERE projection = $1 AND owner = $2 AND token = $3::bigint`,
        [lease.projection, lease.owner, lease.token.toString()],
      )
    },
    async list() {
      const { rows } = await pool.query<{
        projection: string
        owner: string
        token: string
        expires_at: Date
        live: boolean
        version: number
      }>(
        `SELECT projection, owner, token::text, expires_at, expires_at > now() AS live, version FROM ${t} ORDER BY projection`,
      )
      return rows.map((r) => ({
        projection: r.projection,
        owner: r.owner,
        token: BigInt(r.token),
        expiresAt: r.expires_at,
        live: r.live,
        version: r.version,
      }))
    },
  }
}
