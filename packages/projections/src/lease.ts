import type { Pool } from 'pg'
import type { ProjectionTables } from './names.js'

/** A held lease: the owner may write for the projection with `token` until `expiresAt`. */
export type Lease = Readonly<{ projection: string; owner: string; token: bigint; expiresAt: Date }>

/** @internal Lease operations on the lease table. One row per projection; the token only grows. */
export type LeaseStore = Readonly<{
  /** Takes the lease when it is free, expired, or already ours; every take bumps the token. */
  acquire(projection: string, owner: string, ttlMs: number): Promise<Lease | null>
  /** Extends our lease; null when it was taken over (the token changed) — the worker must stop. */
  renew(lease: Lease, ttlMs: number): Promise<Lease | null>
  /** Lets the lease expire now so a standby can take it at once. */
  release(lease: Lease): Promise<void>
  /** Current owners, for status. */
  list(): Promise<readonly (Lease & { live: boolean })[]>
}>

/** @internal */
export function createLeaseStore(pool: Pool, tables: ProjectionTables): LeaseStore {
  const t = tables.leases
  return {
    async acquire(projection, owner, ttlMs) {
      // The conditional upsert is atomic: two contenders for an expired lease cannot both win.
      const { rows } = await pool.query<{ token: string; expires_at: Date }>(
        `INSERT INTO ${t} AS l (projection, owner, token, expires_at)
         VALUES ($1, $2, 1, now() + make_interval(secs => $3::double precision / 1000))
         ON CONFLICT (projection) DO UPDATE
           SET owner = excluded.owner, token = l.token + 1, acquired_at = now(), renewed_at = now(),
               expires_at = excluded.expires_at
           WHERE l.expires_at < now() OR l.owner = excluded.owner
         RETURNING token::text, expires_at`,
        [projection, owner, ttlMs],
      )
      const row = rows[0]
      return row ? { projection, owner, token: BigInt(row.token), expiresAt: row.expires_at } : null
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
      }>(`SELECT projection, owner, token::text, expires_at, expires_at > now() AS live FROM ${t} ORDER BY projection`)
      return rows.map((r) => ({
        projection: r.projection,
        owner: r.owner,
        token: BigInt(r.token),
        expiresAt: r.expires_at,
        live: r.live,
      }))
    },
  }
}
