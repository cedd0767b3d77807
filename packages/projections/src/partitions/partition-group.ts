import { LOG_START, type LogCheckpoint, type RecordedEvent } from '@annals/core'
import { compareCheckpoints, createWaiter, type Waiter } from '@annals/core/runtime'
import { isLeaseLostError } from '../errors.js'
import type { AnyProjection } from '../projection.js'
import type { RegistryRow } from '../registry.js'
import { applyEvents } from '../runner/apply-batch.js'
import { type CommitContext, commitBatch } from '../runner/commit-batch.js'
import { loadTrack } from '../runner/generations.js'
import {
  CheckpointMoved,
  checkpointOf,
  newProjectionWorker,
  newTrack,
  type ProjectionWorker,
  Stopping,
  sinkTarget,
  type Track,
} from '../runner/projection-worker.js'
import type { RunnerContext } from '../runner/runner-context.js'
import { STEP_FAILURE_BACKOFF } from '../runner/runner-options.js'
import { formatCheckpoint } from '../runner/runner-status.js'
import type { PartitionLease, PartitionLeaseStore, PartitionReport } from './partition-leases.js'
import { assignPartitions, partitionOf } from './partition-of.js'

/** What a partition of a group is doing, as `runner.partitions()` and the status table show it. */
export type PartitionState = 'catching-up' | 'live' | 'rebuilding'

/** One partition this runner owns, as `runner.partitions()` reports it. */
export type PartitionRuntimeStatus = Readonly<{
  projection: string
  partition: number
  /** Partitions of the projection. */
  partitions: number
  token: bigint
  state: PartitionState
  liveGeneration: number
  checkpoint: LogCheckpoint | null
  eventsProcessed: number
  lagEvents: number
  lagSeconds: number
  building: Readonly<{
    generation: number
    eventsDone: number
    caughtUp: boolean
    checkpoint: LogCheckpoint | null
  }> | null
}>

/** @internal A partitioned projection as one runner drives it: the partitions it owns, its view of the group. */
export type PartitionGroup = {
  readonly p: AnyProjection
  readonly count: number
  /** Owned partitions, each a worker state of its own (lease, tracks, counters) over the shared code. */
  readonly parts: Map<number, ProjectionWorker>
  /** The live members of the group at the last heartbeat, sorted. */
  members: readonly string[]
  /** The partitions this runner should own among `members`. */
  target: ReadonlySet<number>
  lastAcquireAt: number
  lastControlAt: number
  lastLagAt: number
  /** A generation switched away from, to drop once every partition has left it. */
  pendingDrop: number | null
  /** The live generation whose predecessor this runner has looked for (to drop it). */
  dropCheckedFor: number | null
  state: 'starting' | 'standby' | 'live' | 'catching-up' | 'rebuilding' | 'error' | 'stopped'
  lastError: string | null
  readonly waiter: Waiter
  loop: Promise<void> | null
}

/** @internal What a group's loop uses: the runner's context with the partitioned guards. */
export type GroupContext = CommitContext &
  Pick<
    RunnerContext,
    | 'store'
    | 'retry'
    | 'isStopping'
    | 'registry'
    | 'workerId'
    | 'leaseTtlMs'
    | 'batchSize'
    | 'rebuildBatchSize'
    | 'pollIntervalMs'
    | 'controlIntervalMs'
  > &
  Readonly<{ partitionLeases: PartitionLeaseStore }>

/** Unsaved progress of a track: the read went past this point and found none of the partition's events. */
type Scan = { scanned: LogCheckpoint | null; savedAt: number }
const scans = new WeakMap<Track, Scan>()
const scanOf = (track: Track): Scan => {
  let s = scans.get(track)
  if (!s) {
    s = { scanned: null, savedAt: Date.now() }
    scans.set(track, s)
  }
  return s
}
/** Where a partition's next read starts: its stored checkpoint, or further when it scanned past it. */
function cursorOf(track: Track): LogCheckpoint {
  const s = scanOf(track)
  const cp = track.checkpoint ?? LOG_START
  return s.scanned && compareCheckpoints(s.scanned, cp) > 0 ? s.scanned : cp
}
// An empty move of a partition's checkpoint is a sink commit: save it at most this often while reading
// on (and always at the head), so sixteen partitions do not cost sixteen commits per read.
const SCAN_SAVE_MS = 1000

function partitionLeaseOf(w: ProjectionWorker): PartitionLease[] {
  return w.lease ? [{ ...w.lease, partition: w.partition as number }] : []
}

/** @internal A group before its first heartbeat. */
export function newPartitionGroup(p: AnyProjection): PartitionGroup {
  return {
    p,
    count: p.partitions ?? 1,
    parts: new Map(),
    members: [],
    target: new Set(),
    lastAcquireAt: 0,
    lastControlAt: 0,
    lastLagAt: 0,
    pendingDrop: null,
    dropCheckedFor: null,
    state: 'starting',
    lastError: null,
    waiter: createWaiter(),
    loop: null,
  }
}

/**
 * @internal The group's loop until the runner stops: keep the owned partitions equal to this runner's
 * share (releasing a partition only between batches, so never with a batch in flight), then read the
 * log once for all owned partitions and route each event to its partition's commit.
 */
export async function runPartitionGroup(ctx: GroupContext, g: PartitionGroup): Promise<void> {
  let failures = 0
  while (!ctx.isStopping()) {
    try {
      await rebalance(ctx, g)
      if (Date.now() - g.lastControlAt >= ctx.controlIntervalMs) await controlGroup(ctx, g)
      if (g.parts.size === 0) {
        g.state = 'standby'
        await g.waiter.wait(standbyPause(ctx))
        continue
      }
      const more = await stepGroup(ctx, g)
      failures = 0
      g.lastError = null
      const building = [...g.parts.values()].some((w) => w.building)
      g.state = building ? 'rebuilding' : more ? 'catching-up' : 'live'
      if (!more && !ctx.isStopping()) await g.waiter.wait(ctx.pollIntervalMs)
    } catch (error) {
      if (error instanceof Stopping) break
      failures++
      g.state = 'error'
      g.lastError = error instanceof Error ? error.message : String(error)
      ctx.log.error({ projection: g.p.name, err: error, failures }, 'partitioned projection step failed: retrying')
      await g.waiter.wait(STEP_FAILURE_BACKOFF(failures))
    }
  }
  g.state = 'stopped'
}

function standbyPause(ctx: GroupContext): number {
  return Math.max(100, Math.floor(ctx.leaseTtlMs / 6))
}

/** Gives up the partitions outside this runner's share and takes those of it that are free. */
async function rebalance(ctx: GroupContext, g: PartitionGroup): Promise<void> {
  for (const [partition, w] of g.parts) {
    if (w.leaseLost) {
      ctx.log.warn({ projection: g.p.name, partition, token: w.lease?.token.toString() }, 'partition lease lost')
      g.parts.delete(partition)
    }
  }
  const leaving = [...g.parts.values()].filter((w) => !g.target.has(w.partition as number))
  if (leaving.length > 0) {
    // Between steps: no batch of these partitions is in flight, so their new owner starts where we stopped.
    for (const w of leaving) g.parts.delete(w.partition as number)
    await ctx.partitionLeases.release(g.p.name, ctx.workerId, leaving.flatMap(partitionLeaseOf))
    ctx.log.info({ projection: g.p.name, partitions: leaving.map((w) => w.partition) }, 'partitions handed over')
  }
  const missing = [...g.target].filter((partition) => !g.parts.has(partition))
  if (missing.length === 0 || Date.now() - g.lastAcquireAt < standbyPause(ctx)) return
  g.lastAcquireAt = Date.now()
  const taken = await ctx.partitionLeases.acquire(g.p.name, missing, ctx.workerId, ctx.leaseTtlMs)
  if (taken.length === 0) return
  const row = await ctx.registry.ensure(g.p.name, g.p.version, g.p.handles, g.p.sink.kind, g.count)
  for (const lease of taken) {
    const w = newProjectionWorker(g.p, lease.partition)
    w.lease = { projection: g.p.name, owner: lease.owner, token: lease.token, expiresAt: lease.expiresAt }
    await takeOverPartition(ctx, g, w, row)
    g.parts.set(lease.partition, w)
  }
  ctx.log.info(
    {
      projection: g.p.name,
      partitions: taken.map((l) => l.partition),
      owned: [...g.parts.keys()].sort((a, b) => a - b),
    },
    'partitions acquired',
  )
  // The new partitions' events may lie before the others' checkpoints: read again now.
  g.lastControlAt = 0
}

/** Fences the partition in the sink, loads its live generation and the build in progress, if any. */
async function takeOverPartition(
  ctx: GroupContext,
  g: PartitionGroup,
  w: ProjectionWorker,
  row: RegistryRow,
): Promise<void> {
  const token = (w.lease as NonNullable<ProjectionWorker['lease']>).token
  await g.p.sink.fence(sinkTarget(ctx.tables, w, row.liveGeneration), token)
  const live = newTrack(row.liveGeneration, row.liveVersion)
  live.frozen = !matchesLive(g, row)
  await loadTrack(ctx, w, live)
  w.live = live
  w.building = null
  if (buildsOurs(g, row)) {
    const building = newTrack(row.buildingGeneration as number, g.p.version)
    await loadTrack(ctx, w, building)
    w.building = building
  }
  w.state = 'catching-up'
}

/** The live generation was built by this definition: same version, same number of partitions. */
function matchesLive(g: PartitionGroup, row: RegistryRow): boolean {
  return row.liveVersion === g.p.version && row.livePartitions === g.count
}

/** A build in progress of this definition (a build of another one is not ours to work on). */
function buildsOurs(g: PartitionGroup, row: RegistryRow): boolean {
  return row.buildingGeneration !== null && row.buildingVersion === g.p.version && row.buildingPartitions === g.count
}

/**
 * One read per track kind for every owned partition: from the earliest partition's cursor, routed by
 * partition; each partition commits its share with the read's checkpoint. Resolves whether more is due.
 */
async function stepGroup(ctx: GroupContext, g: PartitionGroup): Promise<boolean> {
  let more = false
  for (const kind of ['building', 'live'] as const) {
    const owners = [...g.parts.values()].filter((w) => {
      const track = w[kind]
      return track !== null && !track.frozen && !w.leaseLost
    })
    if (owners.length === 0) continue
    if (await readAndRoute(ctx, g, owners, kind)) more = true
  }
  return more
}

async function readAndRoute(
  ctx: GroupContext,
  g: PartitionGroup,
  owners: readonly ProjectionWorker[],
  kind: 'building' | 'live',
): Promise<boolean> {
  const trackOf = (w: ProjectionWorker) => w[kind] as Track
  let after = cursorOf(trackOf(owners[0] as ProjectionWorker))
  for (const w of owners) {
    const c = cursorOf(trackOf(w))
    if (compareCheckpoints(c, after) < 0) after = c
  }
  const behind = kind === 'building' || owners.some((w) => !trackOf(w).caughtUp)
  const limit = behind ? ctx.rebuildBatchSize : ctx.batchSize
  const batch = await ctx.store.readAll({ after, limit, types: g.p.handles })
  const byPartition = new Map<number, RecordedEvent[]>()
  for (const event of batch.events) {
    const partition = partitionOf(event.streamId, g.count)
    const list = byPartition.get(partition)
    if (list) list.push(event)
    else byPartition.set(partition, [event])
  }
  let failure: unknown = null
  await Promise.all(
    owners.map(async (w) => {
      const track = trackOf(w)
      const cursor = cursorOf(track)
      const scan = scanOf(track)
      const mine = (byPartition.get(w.partition as number) ?? []).filter(
        (e) => compareCheckpoints(checkpointOf(e), cursor) > 0,
      )
      try {
        if (mine.length > 0) {
          await applyEvents(ctx, w, track, mine, batch.checkpoint)
          scan.scanned = null
          scan.savedAt = Date.now()
        } else if (compareCheckpoints(batch.checkpoint, cursor) > 0) {
          scan.scanned = batch.checkpoint
          if (batch.caughtUp || Date.now() - scan.savedAt >= SCAN_SAVE_MS) {
            await commitBatch(ctx, w, track, [], batch.checkpoint)
            scan.scanned = null
            scan.savedAt = Date.now()
          }
        }
        track.caughtUp = batch.caughtUp
      } catch (error) {
        if (error instanceof CheckpointMoved) {
          scan.scanned = null
          return
        }
        if (isLeaseLostError(error) || w.leaseLost) {
          w.leaseLost = true
          return
        }
        failure ??= error
      }
    }),
  )
  if (failure) throw failure
  return !batch.caughtUp
}

/**
 * The group's periodic chores: follow the registry's generations (promote a build that went live,
 * load or drop a build), and, in the owner of partition 0, start rebuilds and switch the generation
 * once every partition of the build has caught up.
 */
async function controlGroup(ctx: GroupContext, g: PartitionGroup): Promise<void> {
  g.lastControlAt = Date.now()
  const row = await ctx.registry.get(g.p.name)
  if (!row) return
  for (const w of g.parts.values()) {
    if (w.leaseLost || !w.live) continue
    if (w.live.generation !== row.liveGeneration) {
      if (w.building?.generation === row.liveGeneration) {
        w.live = w.building
        w.building = null
      } else {
        const live = newTrack(row.liveGeneration, row.liveVersion)
        await loadTrack(ctx, w, live)
        w.live = live
      }
    }
    w.live.frozen = !matchesLive(g, row)
    if (buildsOurs(g, row) && w.building?.generation !== row.buildingGeneration) {
      const building = newTrack(row.buildingGeneration as number, g.p.version)
      await loadTrack(ctx, w, building)
      w.building = building
    } else if (!buildsOurs(g, row)) w.building = null
  }
  if (Date.now() - g.lastLagAt >= 1000) {
    g.lastLagAt = Date.now()
    await measureLag(ctx, g)
  }
  const coordinator = g.parts.get(0)
  if (coordinator?.lease && !coordinator.leaseLost) await coordinate(ctx, g, coordinator, row)
}

/** Rebuild decisions of a partitioned projection, taken by the owner of partition 0 under its token. */
async function coordinate(ctx: GroupContext, g: PartitionGroup, w: ProjectionWorker, row: RegistryRow): Promise<void> {
  const token = (w.lease as NonNullable<ProjectionWorker['lease']>).token
  const target = (generation: number) => sinkTarget(ctx.tables, w, generation)
  // The generation before the live one (builds start at live + 1) may outlive a coordinator that
  // stopped before dropping it: each new coordinator looks once per live generation.
  if (g.pendingDrop === null && g.dropCheckedFor !== row.liveGeneration) {
    g.dropCheckedFor = row.liveGeneration
    if (row.liveGeneration > 1) g.pendingDrop = row.liveGeneration - 1
  }
  if (g.pendingDrop !== null) {
    const old = g.pendingDrop
    const rows = await ctx.partitionLeases.list(g.p.name)
    // Dropped once no partition still writes to it (each reports the generation it works on).
    if (rows.every((r) => r.partition >= g.count || !r.live || r.liveGeneration !== old)) {
      await g.p.sink.drop(target(old))
      g.pendingDrop = null
      ctx.log.info({ projection: g.p.name, generation: old }, 'previous generation dropped')
    }
  }
  if (row.buildingGeneration === null && (!matchesLive(g, row) || row.rebuildRequestedAt !== null)) {
    const generation = row.liveGeneration + 1
    // Cleared before the registry names it, so no partition can have written to it yet.
    await g.p.sink.drop(target(generation))
    if (await ctx.registry.startBuilding(g.p.name, token, generation, g.p.version, g.count)) {
      const changed = row.livePartitions !== g.count
      ctx.log.info(
        {
          projection: g.p.name,
          generation,
          version: g.p.version,
          partitions: g.count,
          livePartitions: row.livePartitions,
        },
        changed
          ? `rebuild started: the partition count changed (${String(row.livePartitions ?? 'none')} → ${g.count}), which builds a new generation`
          : 'rebuild started',
      )
      g.lastControlAt = 0
    }
    return
  }
  if (row.buildingGeneration !== null && !buildsOurs(g, row)) {
    // A build of another definition (an older version, another count): this one replaces it.
    if (row.buildingVersion !== null && row.buildingVersion > g.p.version) return
    await ctx.deadLetters.markObsolete(g.p.name, row.buildingGeneration)
    await g.p.sink.drop(target(row.buildingGeneration))
    await ctx.registry.abandonBuilding(g.p.name, token, g.p.version)
    g.lastControlAt = 0
    return
  }
  if (row.buildingGeneration !== null) {
    const rows = await ctx.partitionLeases.list(g.p.name)
    const done = rows.filter(
      (r) => r.partition < g.count && r.live && r.buildingGeneration === row.buildingGeneration && r.buildingCaughtUp,
    )
    if (done.length < g.count) return
    const generation = row.buildingGeneration
    if (!(await g.p.sink.activate(target(generation), token))) return
    if (!(await ctx.registry.switchLive(g.p.name, token, generation, g.p.version))) return
    await ctx.deadLetters.markObsolete(g.p.name, row.liveGeneration)
    g.pendingDrop = row.liveGeneration
    ctx.log.info(
      { projection: g.p.name, generation, previous: row.liveGeneration, partitions: g.count },
      'rebuild went live (every partition caught up)',
    )
    g.lastControlAt = 0
    return
  }
  if ((await g.p.sink.liveGeneration(target(row.liveGeneration))) !== row.liveGeneration) {
    if (g.pendingDrop === null) await g.p.sink.activate(target(row.liveGeneration), token)
  }
}

/**
 * Lag of each owned partition: one read of up to 1000 handled events after the earliest live cursor,
 * counted per partition (so capped at 1000 like the unpartitioned lag), and the age of each
 * partition's oldest unapplied event.
 */
async function measureLag(ctx: GroupContext, g: PartitionGroup): Promise<void> {
  const owners = [...g.parts.values()].filter((w) => w.live && !w.live.frozen)
  if (owners.length === 0) return
  let after = cursorOf(owners[0]?.live as Track)
  for (const w of owners) {
    const c = cursorOf(w.live as Track)
    if (compareCheckpoints(c, after) < 0) after = c
  }
  const ahead = await ctx.store.readAll({ after, limit: 1000, types: g.p.handles })
  const now = Date.now()
  for (const w of owners) {
    const cursor = cursorOf(w.live as Track)
    const pending = ahead.events.filter(
      (e) => partitionOf(e.streamId, g.count) === w.partition && compareCheckpoints(checkpointOf(e), cursor) > 0,
    )
    w.lagEvents = pending.length
    w.lagSeconds = pending[0] ? Math.max(0, (now - pending[0].recordedAt.getTime()) / 1000) : 0
  }
}

/** @internal What each owned partition reports with its renewal. */
export function partitionReports(g: PartitionGroup): PartitionReport[] {
  const out: PartitionReport[] = []
  for (const w of g.parts.values()) {
    if (!w.lease || w.leaseLost) continue
    out.push({
      partition: w.partition as number,
      token: w.lease.token,
      liveGeneration: w.live?.generation ?? null,
      buildingGeneration: w.building?.generation ?? null,
      buildingCaughtUp: w.building?.caughtUp ?? false,
      status: {
        state: w.building ? 'rebuilding' : w.live?.caughtUp ? 'live' : 'catching-up',
        checkpoint: formatCheckpoint(w.live?.checkpoint ?? null),
        eventsProcessed: w.eventsProcessed,
        lagEvents: w.lagEvents,
        lagSeconds: w.lagSeconds,
        building: w.building
          ? {
              generation: w.building.generation,
              eventsDone: w.building.eventsDone,
              caughtUp: w.building.caughtUp,
              checkpoint: formatCheckpoint(w.building.checkpoint),
            }
          : null,
      },
    })
  }
  return out
}

/** @internal Heartbeats, renews every owned partition in one statement, and recomputes the share. */
export async function keepGroup(ctx: GroupContext, g: PartitionGroup): Promise<void> {
  const members = await ctx.partitionLeases.heartbeat(g.p.name, ctx.workerId, ctx.leaseTtlMs)
  const reports = partitionReports(g)
  const renewed = await ctx.partitionLeases.renew(g.p.name, ctx.workerId, ctx.leaseTtlMs, reports)
  let lost = false
  for (const r of reports) {
    const w = g.parts.get(r.partition)
    if (!w || w.lease?.token !== r.token) continue
    const expiresAt = renewed.get(r.partition)
    if (expiresAt) w.lease = { ...w.lease, expiresAt }
    else {
      w.leaseLost = true
      lost = true
    }
  }
  const target = new Set(assignPartitions(g.count, members, ctx.workerId))
  const changed = target.size !== g.target.size || [...target].some((p) => !g.target.has(p))
  g.members = members
  g.target = target
  if (changed) g.lastAcquireAt = 0
  if (lost || changed) g.waiter.wake()
}

/** @internal After the loop ended: releases the owned partitions and leaves the group. */
export async function finishGroup(ctx: GroupContext, g: PartitionGroup): Promise<void> {
  const held = [...g.parts.values()].filter((w) => !w.leaseLost).flatMap(partitionLeaseOf)
  g.parts.clear()
  try {
    await ctx.partitionLeases.leave(g.p.name, ctx.workerId)
    await ctx.partitionLeases.release(g.p.name, ctx.workerId, held)
  } catch (error) {
    ctx.log.warn({ projection: g.p.name, err: error }, 'partition release failed (the leases will expire)')
  }
}

/** @internal The owned partitions' status. */
export function groupStatus(g: PartitionGroup): PartitionRuntimeStatus[] {
  return [...g.parts.values()]
    .filter((w) => w.lease && !w.leaseLost && w.live)
    .sort((a, b) => (a.partition as number) - (b.partition as number))
    .map((w) => ({
      projection: g.p.name,
      partition: w.partition as number,
      partitions: g.count,
      token: (w.lease as NonNullable<ProjectionWorker['lease']>).token,
      state: w.building ? 'rebuilding' : w.live?.caughtUp ? 'live' : 'catching-up',
      liveGeneration: (w.live as Track).generation,
      checkpoint: (w.live as Track).checkpoint,
      eventsProcessed: w.eventsProcessed,
      lagEvents: w.lagEvents,
      lagSeconds: w.lagSeconds,
      building: w.building
        ? {
            generation: w.building.generation,
            eventsDone: w.building.eventsDone,
            caughtUp: w.building.caughtUp,
            checkpoint: w.building.checkpoint,
          }
        : null,
    }))
}
