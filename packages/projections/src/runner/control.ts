import { LOG_START } from '@annals/core'
import { isHandlerFailedError } from '../errors.js'
import { type CommitContext, commitBatch } from './commit-batch.js'
import { type GenerationsContext, startBuilding } from './generations.js'
import { leaseOf, type ProjectionWorker, type Track } from './projection-worker.js'
import type { RunnerContext } from './runner-context.js'
import { publishedStatus } from './runner-status.js'

/** @internal What the control step uses. */
export type ControlContext = CommitContext &
  GenerationsContext &
  Pick<RunnerContext, 'store' | 'countPending' | 'workerId'>

/**
 * @internal The owner's periodic chores between batches: act on rebuild requests and dead-letter retry
 * requests (from the admin API or CLI), refresh throughput, lag and parked counts, publish the status.
 */
export async function control(ctx: ControlContext, w: ProjectionWorker): Promise<void> {
  const lease = leaseOf(w)
  w.lastControlAt = Date.now()
  const row = await ctx.registry.get(w.p.name)
  if (row?.rebuildRequestedAt) await startBuilding(ctx, w, row)
  for (const track of [w.live, w.building]) if (track) await replayRequested(ctx, w, track)
  const now = Date.now()
  const seconds = (now - w.lastTickAt) / 1000
  if (seconds > 0) w.throughput = (w.eventsProcessed - w.processedAtLastTick) / seconds
  w.processedAtLastTick = w.eventsProcessed
  w.lastTickAt = now
  // Lag costs a read (or a count) of the log: at most once a second, whatever the control interval.
  if (now - w.lastLagAt >= 1000) {
    w.lastLagAt = now
    await refreshLag(ctx, w)
  }
  w.deadLetters = (await ctx.deadLetters.countParked()).get(w.p.name) ?? 0
  await ctx.registry.publishStatus(w.p.name, lease.token, publishedStatus(w, ctx.workerId))
}

/**
 * Replays the dead letters whose retry was requested, stream by stream in stream order; a stream's
 * first failure ends its replay (the letters after it stay parked) and unblocks nothing.
 */
async function replayRequested(ctx: ControlContext, w: ProjectionWorker, track: Track): Promise<void> {
  const { deadLetters, log } = ctx
  const letters = await deadLetters.retryBatch(w.p.name, track.generation)
  if (letters.length === 0) return
  const byStream = new Map<string, typeof letters>()
  for (const l of letters) byStream.set(l.streamId, [...(byStream.get(l.streamId) ?? []), l])
  for (const [streamId, group] of byStream) {
    let replayed = 0
    for (const letter of group) {
      const read = await ctx.store.readStream(streamId, { from: letter.streamVersion, to: letter.streamVersion })
      const event = read.events[0]
      if (!event) {
        await deadLetters.recordRetryFailure(letter.id, new Error('event no longer in the store'))
        break
      }
      try {
        const result = await commitBatch(ctx, w, track, [event], null, [letter.id])
        if (result.status === 'duplicate') log.info({ id: letter.id.toString() }, 'dead letter had been replayed')
        await deadLetters.markReplayed([letter.id])
        replayed++
      } catch (error) {
        if (!isHandlerFailedError(error)) throw error
        await deadLetters.recordRetryFailure(letter.id, error.cause)
        log.warn({ projection: w.p.name, id: letter.id.toString(), err: error.cause }, 'dead letter failed again')
        break
      }
    }
    if (replayed === group.length) track.blocked.delete(streamId)
    log.info({ projection: w.p.name, stream: streamId, replayed, parked: group.length }, 'dead letters replayed')
  }
  await deadLetters.clearRetryRequests(w.p.name, track.generation)
}

async function refreshLag(ctx: ControlContext, w: ProjectionWorker): Promise<void> {
  const live = w.live
  if (!live || live.frozen) return
  const after = live.checkpoint ?? LOG_START
  const next = await ctx.store.readAll({ after, limit: 1, types: w.p.handles })
  const first = next.events[0]
  w.lagSeconds = first ? Math.max(0, (Date.now() - first.recordedAt.getTime()) / 1000) : 0
  if (!first) w.lagEvents = 0
  else if (ctx.countPending) w.lagEvents = await ctx.countPending(after, w.p.handles)
  else w.lagEvents = (await ctx.store.readAll({ after, limit: 1000, types: w.p.handles })).events.length
}
