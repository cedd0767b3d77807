import type { LogCheckpoint } from '@annals/core'
import type { Pool } from 'pg'
import { createDeadLetterStore, type DeadLetter, type ListDeadLettersOptions } from './dead-letters.js'
import { DeadLetterNotFoundError, UnknownProjectionError } from './errors.js'
import { createLeaseStore } from './lease.js'
import { projectionTables } from './names.js'
import type { PartitionState } from './partitions/partition-group.js'
import { createPartitionLeaseStore, type PartitionRow } from './partitions/partition-leases.js'
import { partitionOf } from './partitions/partition-of.js'
import type { AnyProjection } from './projection.js'
import { createRegistry, type RegistryRow } from './registry.js'
import type { FenceHold, ProjectionState } from './runner/runner-status.js'

/**
 * One partition of a partitioned projection, as its owner reported it at its last renewal. A
 * partition no worker ever took has no owner, no checkpoint and no lease times.
 */
export type PartitionStatus = Readonly<{
  partition: number
  /** The worker holding the lease now; null when it expired or was never taken. */
  owner: string | null
  /** The worker that held it last (the owner, or the one whose lease expired); null when never taken. */
  lastOwner: string | null
  /** Until the lease expires, by the database's clock (negative: expired that long ago). */
  leaseExpiresInMs: number | null
  /** Since the last owner took the lease. */
  heldForMs: number | null
  /** What the owner reported; `stopped` when no worker holds the lease. */
  state: PartitionState | 'stopped'
  /** Generation the partition applies live events to (null while not owned). */
  liveGeneration: number | null
  checkpoint: LogCheckpoint | null
  /** Handled events of this partition after its checkpoint (capped at 1000 with the others; null unless owned). */
  lagEvents: number | null
  /** Age of the partition's oldest unapplied event (null unless owned). */
  lagSeconds: number | null
  eventsProcessed: number
  /** The partition's share of a build in progress. */
  building: Readonly<{ generation: number; eventsDone: number; caughtUp: boolean }> | null
  /** Parked dead letters of the partition's streams. */
  deadLetters: number
}>

/** A projection's status as recorded in Postgres by whichever worker owns it (any process can read it). */
export type ProjectionStatus = Readonly<{
  name: string
  /** Version in the given definitions (null when not given or not defined). */
  definedVersion: number | null
  /** Version the live generation was built with (null before the first run). */
  liveVersion: number | null
  /**
   * The highest version deployed: live, being built, or last to take the lease (null before the first
   * run). Workers whose definition is lower are `superseded`: they never take the projection over.
   */
  highestVersion: number | null
  liveGeneration: number | null
  building: Readonly<{
    generation: number
    version: number
    eventsDone: number
    checkpoint: LogCheckpoint | null
  }> | null
  rebuildRequested: boolean
  /** The owner's published state; `stopped` when no worker holds the lease; `new` when never run. */
  state: ProjectionState | 'new'
  owner: string | null
  leaseExpiresAt: Date | null
  checkpoint: LogCheckpoint | null
  /** Handled events committed after the checkpoint, measured from the head of the log (null unless owned). */
  lagEvents: number | null
  lagSeconds: number | null
  /** While the owner is `held`: what the log's fence holds back and which transaction holds it. */
  fence: FenceHold | null
  throughput: number
  eventsProcessed: number
  deadLetters: number
  lastError: string | null
  statusAt: Date | null
  /**
   * The partition count of the definition given (else of the live generation); null when unpartitioned.
   * For a partitioned projection the figures above sum (or, for the lag time, take the worst of) its
   * partitions, `owner` lists the live owners and `checkpoint` is null: each partition has its own.
   */
  partitionCount: number | null
  /**
   * The partition count the live generation was built with (null: unpartitioned or never run). When
   * the definition's differs, the next build is a new generation: partitions are never reshuffled.
   */
  livePartitions: number | null
  /** One entry per partition, by number (empty when unpartitioned). */
  partitions: readonly PartitionStatus[]
}>

/** Options of {@link getProjectionStatus} and {@link createProjectionAdmin}. */
export type ProjectionAdminOptions = Readonly<{
  pool: Pool
  /** Schema of the projection tables. Default `annals`. */
  schema?: string
  /** Prefix of the projection tables' names, as given to `migrateProjections`. Default none. */
  tablePrefix?: string
}>

type Published = {
  state?: ProjectionState
  checkpoint?: { transactionId: string; position: string } | null
  building?: {
    generation: number
    version: number
    eventsDone: number
    checkpoint: { transactionId: string; position: string } | null
  } | null
  throughput?: number
  eventsProcessed?: number
  lagEvents?: number
  lagSeconds?: number
  fence?: {
    heldEvents: number
    holder: {
      pid: number | null
      transactionId: string
      since: string
      applicationName: string
      database: string | null
      state: string
      query?: string
    } | null
  } | null
  lastError?: string | null
}

function fenceOf(value: Published['fence']): FenceHold | null {
  if (!value) return null
  const h = value.holder
  return {
    heldEvents: value.heldEvents,
    holder: h ? { ...h, transactionId: BigInt(h.transactionId), since: new Date(h.since), query: h.query ?? '' } : null,
  }
}

function cp(value: { transactionId: string; position: string } | null | undefined): LogCheckpoint | null {
  return value ? { transactionId: BigInt(value.transactionId), position: BigInt(value.position) } : null
}

type PartitionReported = {
  state?: PartitionState
  checkpoint?: { transactionId: string; position: string } | null
  eventsProcessed?: number
  lagEvents?: number
  lagSeconds?: number
  building?: { generation: number; eventsDone: number; caughtUp: boolean } | null
}

/** Partitions 0 … count − 1 of one projection, from its lease rows (rows of an older count are left out). */
function partitionsOf(
  count: number,
  rows: readonly PartitionRow[],
  parkedOf: (partition: number) => number,
): PartitionStatus[] {
  const byPartition = new Map(rows.map((r) => [r.partition, r]))
  return Array.from({ length: count }, (_, partition): PartitionStatus => {
    const r = byPartition.get(partition)
    const s = (r?.status ?? {}) as PartitionReported
    const live = r?.live === true
    return {
      partition,
      owner: live ? (r?.owner ?? null) : null,
      lastOwner: r?.owner ?? null,
      leaseExpiresInMs: r ? r.expiresInMs : null,
      heldForMs: r ? r.heldForMs : null,
      state: live ? (s.state ?? 'catching-up') : 'stopped',
      liveGeneration: live ? (r?.liveGeneration ?? null) : null,
      checkpoint: cp(s.checkpoint),
      lagEvents: live ? (s.lagEvents ?? null) : null,
      lagSeconds: live ? (s.lagSeconds ?? null) : null,
      eventsProcessed: s.eventsProcessed ?? 0,
      building: live && s.building ? { ...s.building } : null,
      deadLetters: parkedOf(partition),
    }
  })
}

/** A partitioned projection's own figures, gathered from its partitions. */
function partitionedSummary(parts: readonly PartitionStatus[], buildingGeneration: number | null) {
  const owned = parts.filter((x) => x.owner !== null)
  const state: ProjectionState =
    owned.length === 0
      ? 'stopped'
      : buildingGeneration !== null || owned.some((x) => x.state === 'rebuilding')
        ? 'rebuilding'
        : owned.length === parts.length && owned.every((x) => x.state === 'live')
          ? 'live'
          : 'catching-up'
  const lags = owned.map((x) => x.lagSeconds).filter((x) => x !== null)
  return {
    state,
    owner: owned.length > 0 ? [...new Set(owned.map((x) => x.owner as string))].sort().join(',') : null,
    lagEvents: owned.length > 0 ? owned.reduce((n, x) => n + (x.lagEvents ?? 0), 0) : null,
    lagSeconds: lags.length > 0 ? Math.max(...lags) : null,
    eventsProcessed: parts.reduce((n, x) => n + x.eventsProcessed, 0),
    eventsDone: parts.reduce(
      (n, x) => n + (x.building && x.building.generation === buildingGeneration ? x.building.eventsDone : 0),
      0,
    ),
  }
}

/**
 * Reads every projection's status: registry, lease, published runtime figures and dead-letter count;
 * for a partitioned projection, each partition's owner, lease, checkpoint, lag and dead letters.
 * Pass the definitions to include projections that never ran and to see pending version bumps.
 */
export async function getProjectionStatus(
  options: ProjectionAdminOptions & Readonly<{ projections?: readonly AnyProjection[] }>,
): Promise<readonly ProjectionStatus[]> {
  const tables = projectionTables(options)
  const deadLetters = createDeadLetterStore(options.pool, tables)
  const [rows, leases, parked, partitionRows] = await Promise.all([
    createRegistry(options.pool, tables).list(),
    createLeaseStore(options.pool, tables).list(),
    deadLetters.countParked(),
    createPartitionLeaseStore(options.pool, tables).list(),
  ])
  const defined = new Map((options.projections ?? []).map((p) => [p.name, p]))
  const leaseOf = new Map(leases.map((l) => [l.projection, l]))
  const countOf = (row: RegistryRow) => defined.get(row.name)?.partitions ?? row.livePartitions
  const partitioned = rows.filter((r) => countOf(r) != null).map((r) => r.name)
  const parkedByStream = await deadLetters.countParkedByStream(partitioned)
  const out: ProjectionStatus[] = []
  for (const row of rows) {
    const count = countOf(row) ?? null
    if (count !== null) {
      const parkedIn = new Map<number, number>()
      for (const d of parkedByStream) {
        if (d.projection !== row.name) continue
        const partition = partitionOf(d.streamId, count)
        parkedIn.set(partition, (parkedIn.get(partition) ?? 0) + d.n)
      }
      const parts = partitionsOf(
        count,
        partitionRows.filter((r) => r.projection === row.name),
        (partition) => parkedIn.get(partition) ?? 0,
      )
      const sum = partitionedSummary(parts, row.buildingGeneration)
      const leaseRows = partitionRows.filter((r) => r.projection === row.name && r.partition < count)
      out.push({
        ...registryFigures(row, defined.get(row.name), leaseOf.get(row.name)?.version ?? 0),
        building:
          row.buildingGeneration !== null
            ? {
                generation: row.buildingGeneration,
                version: row.buildingVersion ?? 0,
                eventsDone: sum.eventsDone,
                checkpoint: null,
              }
            : null,
        state: sum.state,
        owner: sum.owner,
        leaseExpiresAt:
          leaseRows.length > 0 ? new Date(Math.max(...leaseRows.map((r) => r.expiresAt.getTime()))) : null,
        checkpoint: null,
        lagEvents: sum.lagEvents,
        lagSeconds: sum.lagSeconds,
        fence: null,
        throughput: 0,
        eventsProcessed: sum.eventsProcessed,
        deadLetters: parked.get(row.name) ?? 0,
        lastError: null,
        partitionCount: count,
        partitions: parts,
      })
      defined.delete(row.name)
      continue
    }
    const lease = leaseOf.get(row.name)
    const live = lease?.live === true
    const s = row.status as Published
    const b = row.buildingGeneration !== null ? s.building : null
    out.push({
      ...registryFigures(row, defined.get(row.name), lease?.version ?? 0),
      building:
        row.buildingGeneration !== null
          ? {
              generation: row.buildingGeneration,
              version: row.buildingVersion ?? 0,
              eventsDone: b?.generation === row.buildingGeneration ? (b.eventsDone ?? 0) : 0,
              checkpoint: b?.generation === row.buildingGeneration ? cp(b.checkpoint) : null,
            }
          : null,
      state: live ? (s.state ?? 'starting') : 'stopped',
      owner: live ? (lease?.owner ?? null) : null,
      leaseExpiresAt: lease?.expiresAt ?? null,
      checkpoint: cp(s.checkpoint),
      lagEvents: live ? (s.lagEvents ?? null) : null,
      lagSeconds: live ? (s.lagSeconds ?? null) : null,
      fence: live ? fenceOf(s.fence) : null,
      throughput: live ? (s.throughput ?? 0) : 0,
      eventsProcessed: s.eventsProcessed ?? 0,
      deadLetters: parked.get(row.name) ?? 0,
      lastError: s.lastError ?? null,
      partitionCount: null,
      partitions: [],
    })
    defined.delete(row.name)
  }
  for (const p of defined.values()) {
    out.push({
      name: p.name,
      definedVersion: p.version,
      liveVersion: null,
      highestVersion: null,
      liveGeneration: null,
      building: null,
      rebuildRequested: false,
      state: 'new',
      owner: null,
      leaseExpiresAt: null,
      checkpoint: null,
      lagEvents: null,
      lagSeconds: null,
      fence: null,
      throughput: 0,
      eventsProcessed: 0,
      deadLetters: 0,
      lastError: null,
      statusAt: null,
      partitionCount: p.partitions ?? null,
      livePartitions: null,
      partitions: [],
    })
  }
  return out.sort((a, b) => a.name.localeCompare(b.name))
}

/** What the registry row says, partitioned or not. */
function registryFigures(row: RegistryRow, defined: AnyProjection | undefined, leaseVersion: number) {
  return {
    name: row.name,
    definedVersion: defined?.version ?? null,
    liveVersion: row.liveVersion,
    highestVersion: Math.max(row.liveVersion, row.buildingVersion ?? 0, leaseVersion),
    liveGeneration: row.liveGeneration,
    livePartitions: row.livePartitions,
    rebuildRequested: row.rebuildRequestedAt !== null,
    statusAt: row.statusAt,
  }
}

/** Operator actions that any process may run; the owning worker carries them out under its lease. */
export interface ProjectionAdmin {
  status(projections?: readonly AnyProjection[]): Promise<readonly ProjectionStatus[]>
  listDeadLetters(options?: ListDeadLettersOptions): Promise<readonly DeadLetter[]>
  /**
   * Asks for a replay of parked events (all, one projection's, or one id). The owner replays each
   * affected stream's parked events in order within its next control tick. Returns how many were marked.
   */
  retryDeadLetters(options?: Readonly<{ projection?: string; id?: bigint }>): Promise<number>
  /** Asks the owner to build a new generation beside the live one and switch when it is caught up. */
  requestRebuild(projection: string): Promise<void>
}

/** Creates the admin API over the projection tables. */
export function createProjectionAdmin(options: ProjectionAdminOptions): ProjectionAdmin {
  const tables = projectionTables(options)
  const deadLetters = createDeadLetterStore(options.pool, tables)
  const registry = createRegistry(options.pool, tables)
  return {
    status: (projections) => getProjectionStatus({ ...options, ...(projections ? { projections } : {}) }),
    listDeadLetters: (o) => deadLetters.list(o),
    async retryDeadLetters(o = {}) {
      const n = await deadLetters.requestRetry(o)
      if (o.id !== undefined && n === 0) throw new DeadLetterNotFoundError(o.id)
      return n
    },
    async requestRebuild(projection) {
      if (!(await registry.requestRebuild(projection))) {
        const known = (await registry.list()).map((r) => r.name)
        throw new UnknownProjectionError(projection, known)
      }
    },
  }
}
