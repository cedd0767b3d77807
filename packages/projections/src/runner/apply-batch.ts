import { LOG_START, type LogCheckpoint, type RecordedEvent } from '@annals/core'
import { compareCheckpoints, sleep } from '@annals/core/runtime'
import { type HandlerFailedError, isHandlerFailedError } from '../errors.js'
import { type CommitContext, commitBatch, parkEvents } from './commit-batch.js'
import { checkpointOf, type ProjectionWorker, Stopping, type Track } from './projection-worker.js'
import type { RunnerContext } from './runner-context.js'

/** @internal What reading and applying a batch use. */
export type ApplyContext = CommitContext & Pick<RunnerContext, 'store' | 'retry' | 'isStopping'>

/**
 * @internal Reads up to `limit` handled events after the track's checkpoint and applies them (an
 * empty read still moves the checkpoint past unhandled events). Resolves whether the track is caught up.
 */
export async function processTrack(
  ctx: ApplyContext,
  w: ProjectionWorker,
  track: Track,
  limit: number,
): Promise<boolean> {
  const after = track.checkpoint ?? LOG_START
  const batch = await ctx.store.readAll({ after, limit, types: w.p.handles })
  if (batch.events.length > 0) await applyEvents(ctx, w, track, batch.events, batch.checkpoint)
  else if (compareCheckpoints(batch.checkpoint, after) > 0) await commitBatch(ctx, w, track, [], batch.checkpoint)
  track.caughtUp = batch.caughtUp
  return batch.caughtUp
}

/**
 * @internal Applies a read batch in as few commits as possible: events of blocked streams are parked,
 * the rest committed together; on a handler failure the events before it are committed, the failing
 * one is retried (then parked) and the rest of the batch goes on after it. A partition applies the
 * events of its streams with the checkpoint of the whole read (`final`).
 */
export async function applyEvents(
  ctx: ApplyContext,
  w: ProjectionWorker,
  track: Track,
  events: readonly RecordedEvent[],
  final: LogCheckpoint,
): Promise<void> {
  let index = 0
  while (index < events.length) {
    const parkNow: RecordedEvent[] = []
    const chunk: { event: RecordedEvent; at: number }[] = []
    for (let j = index; j < events.length; j++) {
      const event = events[j] as RecordedEvent
      if (track.blocked.has(event.streamId)) parkNow.push(event)
      else chunk.push({ event, at: j })
    }
    // Parked rows are durable before the checkpoint passes their events (re-parking is idempotent).
    if (parkNow.length > 0)
      await parkEvents(
        ctx,
        w,
        track,
        parkNow.map((event) => ({ event, reason: 'blocked', attempts: 0 })),
      )
    try {
      await commitBatch(
        ctx,
        w,
        track,
        chunk.map((c) => c.event),
        final,
      )
      return
    } catch (error) {
      if (!isHandlerFailedError(error)) throw error
      if (error.index < 0) {
        await applyOneByOne(ctx, w, track, chunk)
        return
      }
      const failing = chunk[error.index] as { event: RecordedEvent; at: number }
      if (failing.at > 0) {
        const before = chunk.slice(0, error.index).map((c) => c.event)
        await commitBatch(ctx, w, track, before, checkpointOf(events[failing.at - 1] as RecordedEvent))
      }
      await retryOne(ctx, w, track, failing.event, error)
      index = failing.at + 1
    }
  }
}

/** A batch handler failed somewhere: find the culprit by committing one event at a time. */
async function applyOneByOne(
  ctx: ApplyContext,
  w: ProjectionWorker,
  track: Track,
  chunk: readonly { event: RecordedEvent }[],
): Promise<void> {
  for (const { event } of chunk) {
    if (track.blocked.has(event.streamId)) {
      await parkEvents(ctx, w, track, [{ event, reason: 'blocked', attempts: 0 }])
      continue
    }
    try {
      await commitBatch(ctx, w, track, [event], checkpointOf(event))
    } catch (error) {
      if (!isHandlerFailedError(error)) throw error
      await retryOne(ctx, w, track, event, error)
    }
  }
}

/**
 * Retries one failed event with backoff; after the last attempt it is parked, its stream blocked, and
 * the checkpoint moved past it so the projection goes on.
 */
async function retryOne(
  ctx: ApplyContext,
  w: ProjectionWorker,
  track: Track,
  event: RecordedEvent,
  first: HandlerFailedError,
): Promise<void> {
  const { maxAttempts, delay } = ctx.retry
  let lastError: unknown = first.cause
  for (let attempt = 2; attempt <= maxAttempts; attempt++) {
    await sleep(delay(attempt - 1))
    // A stop must not wait out the remaining attempts: the event is retried by whoever runs next.
    if (ctx.isStopping()) throw new Stopping()
    try {
      await commitBatch(ctx, w, track, [event], checkpointOf(event))
      return
    } catch (error) {
      if (!isHandlerFailedError(error)) throw error
      lastError = error.cause
    }
  }
  await parkEvents(ctx, w, track, [{ event, reason: 'failed', error: lastError, attempts: maxAttempts }])
  track.blocked.add(event.streamId)
  await commitBatch(ctx, w, track, [], checkpointOf(event))
}
