import type { LogCheckpoint } from '@annals/core'
import type { Pool } from 'pg'
import { createDeadLetterStore, type DeadLetter, type ListDeadLettersOptions } from './dead-letters.js'
import { DeadLetterNotFoundError, UnknownProjectionError } from './errors.js'
import { createLeaseStore } from './lease.js'
import { projectionTables } from './names.js'
import type { AnyProjection } from './projection.js'
import { createRegistry } from './registry.js'
import type { FenceHold, ProjectionState } from './runner/runner-status.js'

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

/**
 * Reads every projection's status: registry, lease, published runtime figures and dead-letter count.
 * Pass the definitions to include projections that never ran and to see pending version bumps.
 */
export async function getProjectionStatus(
  options: ProjectionAdminOptions & Readonly<{ projections?: readonly AnyProjection[] }>,
): Promise<readonly ProjectionStatus[]> {
  const tables = projectionTables(options)
  const [rows, leases, parked] = await Promise.all([
    createRegistry(options.pool, tables).list(),
    createLeaseStore(options.pool, tables).list(),
    createDeadLetterStore(options.pool, tables).countParked(),
  ])
  const defined = new Map((options.projections ?? []).map((p) => [p.name, p]))
  const leaseOf = new Map(leases.map((l) => [l.projection, l]))
  const out: ProjectionStatus[] = []
  for (const row of rows) {
    const lease = leaseOf.get(row.name)
    const live = lease?.live === true
    const s = row.status as Published
    const b = row.buildingGeneration !== null ? s.building : null
    out.push({
      name: row.name,
      definedVersion: defined.get(row.name)?.version ?? null,
      liveVersion: row.liveVersion,
      highestVersion: Math.max(row.liveVersion, row.buildingVersion ?? 0, lease?.version ?? 0),
      liveGeneration: row.liveGeneration,
      building:
        row.buildingGeneration !== null
          ? {
              generation: row.buildingGeneration,
              version: row.buildingVersion ?? 0,
              eventsDone: b?.generation === row.buildingGeneration ? (b.eventsDone ?? 0) : 0,
              checkpoint: b?.generation === row.buildingGeneration ? cp(b.checkpoint) : null,
            }
          : null,
      rebuildRequested: row.rebuildRequestedAt !== null,
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
      statusAt: row.statusAt,
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
    })
  }
  return out.sort((a, b) => a.name.localeCompare(b.name))
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
