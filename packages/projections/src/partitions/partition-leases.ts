import type { Pool } from 'pg'
import type { ProjectionTables } from '../names.js'

/** A held partition lease: the owner may write for the partition with `token` until `expiresAt`. */
export type PartitionLease = Readonly<{
  projection: string
  partition: number
  owner: string
  token: bigint
  expiresAt: Date
}>

/** What a partition's owner reports with each renewal (for status and for the group's switch-over). */
export type PartitionReport = Readonly<{
  partition: number
  token: bigint
  liveGeneration: number | null
  buildingGeneration: number | null
  buildingCaughtUp: boolean
  status: Readonly<Record<string, unknown>>
}>

/** A partition's row, as any process reads it. */
export type PartitionRow = Readonly<{
  partition: number
  owner: string
  token: bigint
  expiresAt: Date
  live: boolean
  /** Milliseconds until the lease expires by the database's clock (negative: expired that long ago). */
  expiresInMs: number
  /** Milliseconds since the owner took the lease, by the database's clock. */
  heldForMs: number
  liveGeneration: number | null
  buildingGeneration: number | null
  buildingCaughtUp: boolean
  status: Readonly<Record<string, unknown>>
}>

/**
 * @internal Leases of partitions and heartbeats of the group's members. Every operation takes or
 * renews many partitions in one statement: a worker holding eight partitions costs one round trip
 * per renewal, not eight.
 */
export type PartitionLeaseStore = ReturnType<typeof createPartitionLeaseStore>

/** @internal */
export function createPartitionLeaseStore(pool: Pool, tables: ProjectionTables) {
  const t = tables.partitionLeases
  const m = tables.members
  const ttl = (param: string) => `now() + make_interval(secs => ${param}::double precision / 1000)`
  return {
    /**
     * Records `member`'s heartbeat and returns the live members of the group (itself included),
     * sorted: what every member computes its share from.
     */
    async heartbeat(projection: string, member: string, ttlMs: number): Promise<string[]> {
      const { rows } = await pool.query<{ member: string }>(
        `WITH beat AS (
           INSERT INTO ${m} (projection, member, expires_at) VALUES ($1, $2, ${ttl('$3')})
           ON CONFLICT (projection, member) DO UPDATE SET heartbeat_at = now(), expires_at = excluded.expires_at
           RETURNING member
         )
         SELECT member FROM beat
         UNION SELECT member FROM ${m} WHERE projection = $1 AND expires_at > now()
         ORDER BY member`,
        [projection, member, ttlMs],
      )
      return rows.map((r) => r.member)
    },
    /** Leaves the group now, so the others share its partitions out at once. */
    async leave(projection: string, member: string): Promise<void> {
      await pool.query(`DELETE FROM ${m} WHERE projection = $1 AND member = $2`, [projection, member])
    },
    /**
     * Takes those of `partitions` that are free or expired; every take draws a new token from the
     * sequence. Returns the leases taken (the others are held by live owners).
     */
    async acquire(
      projection: string,
      partitions: readonly number[],
      owner: string,
      ttlMs: number,
    ): Promise<PartitionLease[]> {
      if (partitions.length === 0) return []
      const { rows } = await pool.query<{ partition: number; token: string; expires_at: Date }>(
        `INSERT INTO ${t} AS l (projection, partition, owner, token, expires_at)
         SELECT $1, p, $2, nextval('${tables.partitionTokens.replaceAll("'", "''")}'), ${ttl('$4')}
         FROM unnest($3::int[]) AS p
         ON CONFLICT (projection, partition) DO UPDATE
           SET owner = excluded.owner, token = excluded.token, acquired_at = now(), renewed_at = now(),
               expires_at = excluded.expires_at, live_generation = NULL, building_generation = NULL,
               building_caught_up = false
           WHERE l.expires_at < now()
         RETURNING partition, token::text, expires_at`,
        [projection, owner, partitions, ttlMs],
      )
      return rows
        .map((r) => ({ projection, partition: r.partition, owner, token: BigInt(r.token), expiresAt: r.expires_at }))
        .sort((a, b) => a.partition - b.partition)
    },
    /**
     * Extends every lease in `reports` that is still ours (same token) and stores what its owner
     * reports; returns the partitions renewed (a missing one was taken over: stop writing to it).
     */
    async renew(projection: string, owner: string, ttlMs: number, reports: readonly PartitionReport[]) {
      if (reports.length === 0) return new Map<number, Date>()
      const { rows } = await pool.query<{ partition: number; expires_at: Date }>(
        `UPDATE ${t} AS l SET renewed_at = now(), expires_at = ${ttl('$3')}, live_generation = r.live,
           building_generation = r.building, building_caught_up = r.caught_up, status = r.status
         FROM unnest($4::int[], $5::bigint[], $6::int[], $7::int[], $8::boolean[], $9::jsonb[])
           AS r(partition, token, live, building, caught_up, status)
         WHERE l.projection = $1 AND l.owner = $2 AND l.partition = r.partition AND l.token = r.token
         RETURNING l.partition, l.expires_at`,
        [
          projection,
          owner,
          ttlMs,
          reports.map((r) => r.partition),
          reports.map((r) => r.token.toString()),
          reports.map((r) => r.liveGeneration),
          reports.map((r) => r.buildingGeneration),
          reports.map((r) => r.buildingCaughtUp),
          reports.map((r) => JSON.stringify(r.status)),
        ],
      )
      return new Map(rows.map((r) => [r.partition, r.expires_at]))
    },
    /** Lets the leases expire now (still only ours), so the partitions' new owners take them at once. */
    async release(projection: string, owner: string, leases: readonly PartitionLease[]): Promise<void> {
      if (leases.length === 0) return
      await pool.query(
        `UPDATE ${t} SET expires_at = now() - interval '1 millisecond'
         WHERE projection = $1 AND owner = $2 AND (partition, token) IN (SELECT * FROM unnest($3::int[], $4::bigint[]))`,
        [projection, owner, leases.map((l) => l.partition), leases.map((l) => l.token.toString())],
      )
    },
    /** Every partition row of `projection` (or of all projections), by partition. */
    async list(projection?: string): Promise<(PartitionRow & { projection: string })[]> {
      const { rows } = await pool.query<{
        projection: string
        partition: number
        owner: string
        token: string
        expires_at: Date
        live: boolean
        expires_in_ms: number
        held_for_ms: number
        live_generation: number | null
        building_generation: number | null
        building_caught_up: boolean
        status: Record<string, unknown>
      }>(
        `SELECT projection, partition, owner, token::text, expires_at, expires_at > now() AS live,
                (extract(epoch FROM expires_at - now()) * 1000)::float8 AS expires_in_ms,
                (extract(epoch FROM now() - acquired_at) * 1000)::float8 AS held_for_ms, live_generation,
                building_generation, building_caught_up, status
         FROM ${t} WHERE $1::text IS NULL OR projection = $1 ORDER BY projection, partition`,
        [projection ?? null],
      )
      return rows.map((r) => ({
        projection: r.projection,
        partition: r.partition,
        owner: r.owner,
        token: BigInt(r.token),
        expiresAt: r.expires_at,
        live: r.live,
        expiresInMs: r.expires_in_ms,
        heldForMs: r.held_for_ms,
        liveGeneration: r.live_generation,
        buildingGeneration: r.building_generation,
        buildingCaughtUp: r.building_caught_up,
        status: r.status,
      }))
    },
  }
}
