import { LeaseLostError } from '../errors.js'
import type { RegistryRow } from '../registry.js'
import { leaseOf, loseLease, newTrack, type ProjectionWorker, sinkTarget, type Track } from './projection-worker.js'
import type { RunnerContext } from './runner-context.js'

/** @internal What moving between generations uses. */
export type GenerationsContext = Pick<RunnerContext, 'tables' | 'registry' | 'deadLetters' | 'log' | 'metrics'>

/**
 * @internal Sets up a worker that just took its lease: fences the sink, loads the live generation,
 * resumes (or abandons) a build left by the previous owner, and starts one when the definition's
 * version is newer than the live one or a rebuild was requested.
 */
export async function takeOver(ctx: GenerationsContext, w: ProjectionWorker): Promise<void> {
  const { registry, log } = ctx
  const lease = leaseOf(w)
  const p = w.p
  const target = (generation: number) => sinkTarget(ctx.tables, w, generation)
  const row = await registry.ensure(p.name, p.version, p.handles, p.sink.kind)
  await p.sink.fence(target(row.liveGeneration), lease.token)
  const live = newTrack(row.liveGeneration, row.liveVersion)
  live.frozen = row.liveVersion !== p.version
  await loadTrack(ctx, w, live)
  reportLostAtTakeOver(ctx, w, row, live)
  w.live = live
  w.building = null
  if (row.buildingGeneration !== null && row.buildingVersion === p.version && row.rebuildRequestedAt === null) {
    // Resume the crashed or interrupted build where its checkpoint says.
    const building = newTrack(row.buildingGeneration, p.version)
    await loadTrack(ctx, w, building)
    w.building = building
    log.info({ projection: p.name, generation: building.generation }, 'rebuild resumed')
  } else if (row.buildingGeneration !== null) {
    await abandonBuilding(ctx, w, newTrack(row.buildingGeneration, row.buildingVersion ?? 0))
    if (!(await registry.abandonBuilding(p.name, lease.token, p.version))) throw new LeaseLostError(p.name, lease.token)
  }
  if (w.building === null && (live.frozen || row.rebuildRequestedAt !== null)) await startBuilding(ctx, w, row)
  if ((await p.sink.liveGeneration(target(live.generation))) !== live.generation) {
    await p.sink.activate(target(live.generation), lease.token)
  }
  w.deadLetters = (await ctx.deadLetters.countParked()).get(p.name) ?? 0
  w.lastControlAt = 0
}

/** @internal Starts building a new generation beside the live one (replacing a build in progress). */
export async function startBuilding(ctx: GenerationsContext, w: ProjectionWorker, row: RegistryRow): Promise<void> {
  const lease = leaseOf(w)
  const previous = w.building
  const generation = Math.max(row.liveGeneration, row.buildingGeneration ?? 0, previous?.generation ?? 0) + 1
  if (previous) await abandonBuilding(ctx, w, previous)
  if (!(await ctx.registry.startBuilding(w.p.name, lease.token, generation, w.p.version))) loseLease(w, lease)
  // A fresh number, but clear it anyway: nothing half-built may count as done.
  await w.p.sink.drop(sinkTarget(ctx.tables, w, generation))
  const track = newTrack(generation, w.p.version)
  await loadTrack(ctx, w, track)
  w.building = track
  ctx.log.info({ projection: w.p.name, generation, version: w.p.version }, 'rebuild started')
}

/** @internal Makes the generation being built the live one, then drops the old generation. */
export async function switchOver(ctx: GenerationsContext, w: ProjectionWorker): Promise<void> {
  const lease = leaseOf(w)
  const next = w.building as Track
  const old = w.live as Track
  if (!(await w.p.sink.activate(sinkTarget(ctx.tables, w, next.generation), lease.token))) loseLease(w, lease)
  if (!(await ctx.registry.switchLive(w.p.name, lease.token, next.generation, next.version))) loseLease(w, lease)
  w.live = next
  w.building = null
  await ctx.deadLetters.markObsolete(w.p.name, old.generation)
  await w.p.sink.drop(sinkTarget(ctx.tables, w, old.generation))
  ctx.log.info({ projection: w.p.name, generation: next.generation, previous: old.generation }, 'rebuild went live')
}

async function abandonBuilding(ctx: GenerationsContext, w: ProjectionWorker, track: Track): Promise<void> {
  await ctx.deadLetters.markObsolete(w.p.name, track.generation)
  await w.p.sink.drop(sinkTarget(ctx.tables, w, track.generation))
  w.building = null
}

/** @internal Prepares the track's generation in the sink and loads its checkpoint and blocked streams. */
export async function loadTrack(ctx: GenerationsContext, w: ProjectionWorker, track: Track): Promise<void> {
  const target = sinkTarget(ctx.tables, w, track.generation)
  await w.p.sink.prepare(target)
  track.checkpoint = await w.p.sink.loadCheckpoint(target)
  track.blocked = await ctx.deadLetters.blockedStreams(w.p.name, track.generation)
}

/**
 * A sink that lost its data while no worker held the lease (a FLUSHALL between a crash and the next
 * owner) looks like a first run: no checkpoint. The previous owner's published status tells them apart:
 * it had a checkpoint in this very generation, so this one is rebuilt from zero, and that is a loss.
 */
function reportLostAtTakeOver(ctx: GenerationsContext, w: ProjectionWorker, row: RegistryRow, live: Track): void {
  const published = row.status as { liveGeneration?: unknown; checkpoint?: unknown }
  if (w.partition !== undefined || live.checkpoint !== null) return
  if (published.liveGeneration !== live.generation || !published.checkpoint) return
  ctx.metrics.checkpointLost.inc({ projection: w.p.name })
  ctx.log.error(
    { projection: w.p.name, generation: live.generation, published: published.checkpoint },
    'checkpoint missing in the sink at takeover (data lost?): rebuilding this generation from zero',
  )
}
