import type { Pool } from 'pg'
import type { ProjectionTables } from './names.js'

/** One projection's row in the registry: which generation is live and which one is being built. */
export type RegistryRow = Readonly<{
  name: string
  liveGeneration: number
  liveVersion: number
  buildingGeneration: number | null
  buildingVersion: number | null
  rebuildRequestedAt: Date | null
  /** Partitions of the live generation (null: unpartitioned). */
  livePartitions: number | null
  /** Partitions of the generation being built (null: unpartitioned or none). */
  buildingPartitions: number | null
  handles: readonly string[]
  sink: string
  /** What the owning worker last published (see `ProjectionStatus`). */
  status: Readonly<Record<string, unknown>>
  statusAt: Date | null
}>

type Row = {
  name: string
  live_generation: number
  live_version: number
  building_generation: number | null
  building_version: number | null
  rebuild_requested_at: Date | null
  live_partitions: number | null
  building_partitions: number | null
  handles: string[]
  sink: string
  status: Record<string, unknown>
  status_at: Date | null
}

const COLUMNS =
  'name, live_generation, live_version, building_generation, building_version, rebuild_requested_at, live_partitions, building_partitions, handles, sink, status, status_at'

function fromRow(r: Row): RegistryRow {
  return {
    name: r.name,
    liveGeneration: r.live_generation,
    liveVersion: r.live_version,
    buildingGeneration: r.building_generation,
    buildingVersion: r.building_version,
    rebuildRequestedAt: r.rebuild_requested_at,
    livePartitions: r.live_partitions,
    buildingPartitions: r.building_partitions,
    handles: r.handles,
    sink: r.sink,
    status: r.status,
    statusAt: r.status_at,
  }
}

/**
 * @internal The registry table. Writes that change generations are guarded by the caller's lease token
 * and refused to a version lower than the live or building one.
 */
export type Registry = ReturnType<typeof createRegistry>

/** @internal */
export function createRegistry(pool: Pool, tables: ProjectionTables, leases: 'single' | 'partitioned' = 'single') {
  const t = tables.registry
  // A partitioned projection's generations are moved by the owner of its partition 0 (its coordinator).
  const leaseHeld =
    leases === 'single'
      ? `EXISTS (SELECT 1 FROM ${tables.leases} l WHERE l.projection = $1 AND l.token = $2::bigint)`
      : `EXISTS (SELECT 1 FROM ${tables.partitionLeases} l WHERE l.projection = $1 AND l.partition = 0 AND l.token = $2::bigint)`
  // A lower version never replaces or abandons a higher one's generation, whatever its token says.
  const notNewerThan = (version: string) =>
    `live_version <= ${version}::integer AND coalesce(building_version, 0) <= ${version}::integer`
  return {
    /** Creates the row on the first run (`partitions`: of the first generation; null unpartitioned). */
    async ensure(
      name: string,
      version: number,
      handles: readonly string[],
      sink: string,
      partitions: number | null = null,
    ): Promise<RegistryRow> {
      await pool.query(
        `INSERT INTO ${t} (name, live_generation, live_version, handles, sink, live_partitions) VALUES ($1, 1, $2, $3, $4, $5)
         ON CONFLICT (name) DO UPDATE SET handles = excluded.handles, sink = excluded.sink`,
        [name, version, handles, sink, partitions],
      )
      const row = await this.get(name)
      if (!row) throw new Error(`registry row of ${name} vanished`)
      return row
    },
    async get(name: string): Promise<RegistryRow | null> {
      const { rows } = await pool.query<Row>(`SELECT ${COLUMNS} FROM ${t} WHERE name = $1`, [name])
      return rows[0] ? fromRow(rows[0]) : null
    },
    async list(): Promise<readonly RegistryRow[]> {
      const { rows } = await pool.query<Row>(`SELECT ${COLUMNS} FROM ${t} ORDER BY name`)
      return rows.map(fromRow)
    },
    async startBuilding(
      name: string,
      token: bigint,
      generation: number,
      version: number,
      partitions: number | null = null,
    ): Promise<boolean> {
      const r = await pool.query(
        `UPDATE ${t} SET building_generation = $3, building_version = $4, building_partitions = $5,
           rebuild_requested_at = NULL, updated_at = now()
         WHERE name = $1 AND ${leaseHeld} AND ${notNewerThan('$4')}`,
        [name, token.toString(), generation, version, partitions],
      )
      return r.rowCount === 1
    },
    async abandonBuilding(name: string, token: bigint, version: number): Promise<boolean> {
      const r = await pool.query(
        `UPDATE ${t} SET building_generation = NULL, building_version = NULL, building_partitions = NULL, updated_at = now()
         WHERE name = $1 AND ${leaseHeld} AND ${notNewerThan('$3')}`,
        [name, token.toString(), version],
      )
      return r.rowCount === 1
    },
    async switchLive(name: string, token: bigint, generation: number, version: number): Promise<boolean> {
      const r = await pool.query(
        `UPDATE ${t} SET live_generation = $3, live_version = $4, live_partitions = building_partitions,
           building_generation = NULL, building_version = NULL, building_partitions = NULL, updated_at = now()
         WHERE name = $1 AND building_generation = $3 AND ${leaseHeld} AND ${notNewerThan('$4')}`,
        [name, token.toString(), generation, version],
      )
      return r.rowCount === 1
    },
    /** Asks the owning worker to rebuild (a new generation beside the live one). */
    async requestRebuild(name: string): Promise<boolean> {
      const r = await pool.query(`UPDATE ${t} SET rebuild_requested_at = now(), updated_at = now() WHERE name = $1`, [
        name,
      ])
      return r.rowCount === 1
    },
    async publishStatus(name: string, token: bigint, status: Record<string, unknown>): Promise<void> {
      await pool.query(`UPDATE ${t} SET status = $3, status_at = now() WHERE name = $1 AND ${leaseHeld}`, [
        name,
        token.toString(),
        JSON.stringify(status),
      ])
    },
  }
}
