import { LOG_START, type LogCheckpoint } from '@annals/core'
import { isHandlerFailedError } from '../errors.js'
import { adoptStoredCheckpoint, type CommitContext, commitBatch, describeError } from './commit-batch.js'
import { warnOfStall } from './fence-stall.js'
import { type GenerationsContext, startBuilding } from './generations.js'
import { leaseOf, type ProjectionWorker, sinkTarget, type Track } from './projection-worker.js'
import type { RunnerContext } from './runner-context.js'
import { publishedStatus } from './runner-status.js'

/** @internal What the control step uses. */
export type ControlContext = CommitContext &
  GenerationsContext &
  Pick<RunnerContext, 'store' | 'countPending' | 'logHead' | 'workerId' | 'stallWarningMs'>

/**
 * @internal The owner's periodic chores between batches: act on rebuild requests and dead-letter retry
 * requests (from the admin API or CLI), check the sink still holds our checkpoints, refresh
 * throughput, lag and parked counts, publish the status.
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
  // Each costs a round trip to the sink or the log: at most once a second, whatever the control interval.
  if (now - w.lastLagAt >= 1000) {
    w.lastLagAt = now
    await verifyCheckpoints(ctx, w)
    await refreshLag(ctx, w)
    warnOfStall(ctx, w)
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
        const failure = describeError(error.cause)
        w.lastError = failure.message
        log.warn(
          {
            projection: w.p.name,
            id: letter.id.toString(),
            error: failure.message,
            code: failure.code,
            err: error.cause,
          },
          `dead letter failed again: ${failure.message}`,
        )
        break
      }
    }
    if (replayed === group.length) track.blocked.delete(streamId)
    log.info({ projection: w.p.name, stream: streamId, replayed, parked: group.length }, 'dead letters replayed')
  }
  await deadLetters.clearRetryRequests(w.p.name, track.generation)
}

/**
 * A sink that lost its data while the projection is idle would go unnoticed until the next commit's
 * compare-and-set (an idle reader commits nothing): compare the stored checkpoints with ours now.
 */
async function verifyCheckpoints(ctx: ControlContext, w: ProjectionWorker): Promise<void> {
  for (const track of [w.live, w.building]) {
    // A frozen live generation is no longer written (its rebuild replaces it); a track still catching
    // up commits soon, and its compare-and-set notices (a sink's read may cost it a cache, too).
    if (!track || track.frozen || !track.caughtUp) continue
    const stored = await w.p.sink.loadCheckpoint(sinkTarget(ctx.tables, w, track.generation))
    if (!sameCheckpoint(stored, track.checkpoint)) await adoptStoredCheckpoint(ctx, w, track, stored)
  }
}

function sameCheckpoint(a: LogCheckpoint | null, b: LogCheckpoint | null): boolean {
  return a === null || b === null ? a === b : a.transactionId === b.transactionId && a.position === b.position
}

// A holder's query is shown in status, logs and the registry row: enough to recognise it, no more.
const MAX_QUERY_CHARS = 500

/**
 * @internal Measures the live generation's lag from the head of the log: with a store that has
 * `logHead` (the Postgres one), committed events the fence holds back count, and the hold is recorded;
 * otherwise through the gap-safe read (which stops at the fence).
 */
export async function refreshLag(
  ctx: Pick<RunnerContext, 'store' | 'countPending' | 'logHead'>,
  w: ProjectionWorker,
): Promise<void> {
  const live = w.live
  if (!live || live.frozen) {
    w.fence = null
    return
  }
  const after = live.checkpoint ?? LOG_START
  if (ctx.logHead) {
    const head = await ctx.logHead(after, w.p.handles)
    w.lagSeconds = (head.oldestAgeMs ?? 0) / 1000
    w.lagEvents = ctx.countPending && head.pending > 0 ? await ctx.countPending(after, w.p.handles) : head.pending
    const h = head.holder
    w.fence =
      head.held === 0
        ? null
        : {
            heldEvents: head.held,
            holder: h
              ? {
                  pid: h.pid,
                  transactionId: h.transactionId,
                  since: new Date(Date.now() - h.ageMs),
                  applicationName: h.applicationName,
                  database: h.database,
                  state: h.state,
                  query: h.query.slice(0, MAX_QUERY_CHARS),
                }
              : null,
          }
    return
  }
  const next = await ctx.store.readAll({ after, limit: 1, types: w.p.handles })
  const first = next.events[0]
  w.lagSeconds = first ? Math.max(0, (Date.now() - first.recordedAt.getTime()) / 1000) : 0
  if (!first) w.lagEvents = 0
  else if (ctx.countPending) w.lagEvents = await ctx.countPending(after, w.p.handles)
  else w.lagEvents = (await ctx.store.readAll({ after, limit: 1000, types: w.p.handles })).events.length
}
