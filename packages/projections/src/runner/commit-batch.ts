import type { LogCheckpoint, RecordedEvent } from '@annals/core'
import type { ParkedEvent } from '../dead-letters.js'
import { HandlerFailedError } from '../errors.js'
import type { SinkCommitResult } from '../sink.js'
import {
  CheckpointMoved,
  leaseOf,
  loseLease,
  type ProjectionWorker,
  sinkTarget,
  type Track,
} from './projection-worker.js'
import type { RunnerContext } from './runner-context.js'
import { formatCheckpoint } from './runner-status.js'

/** @internal What committing and parking use. */
export type CommitContext = Pick<RunnerContext, 'tables' | 'deadLetters' | 'metrics' | 'hooks' | 'log'>

/**
 * @internal Applies `events` to the track's generation and moves its checkpoint to `checkpoint` (null:
 * keep it, for dead-letter replays) in one sink commit, fenced by the lease token. A handler failure
 * throws `HandlerFailedError` (index -1 when a batch handler failed and the event is unknown); a
 * fenced commit throws `LeaseLostError`; a moved checkpoint throws {@link CheckpointMoved}.
 */
export async function commitBatch(
  ctx: CommitContext,
  w: ProjectionWorker,
  track: Track,
  events: readonly RecordedEvent[],
  checkpoint: LogCheckpoint | null,
  replayIds: readonly bigint[] = [],
): Promise<SinkCommitResult> {
  const { log } = ctx
  const lease = leaseOf(w)
  if (ctx.hooks?.beforeCommit && events.length > 0) {
    await ctx.hooks.beforeCommit({ projection: w.p.name, generation: track.generation, events })
  }
  const target = sinkTarget(ctx.tables, w, track.generation)
  const result = await w.p.sink.commit(target, {
    token: lease.token,
    expected: track.checkpoint,
    checkpoint,
    replayIds,
    size: events.length,
    async apply(sinkContext) {
      if (w.p.handleBatch && events.length > 1) {
        try {
          await w.p.handleBatch(events, sinkContext)
        } catch (cause) {
          // Which event failed is unknown: the caller isolates it one event at a time.
          throw new HandlerFailedError(w.p.name, (events[0] as RecordedEvent).eventId, -1, { cause })
        }
        return
      }
      for (let i = 0; i < events.length; i++) {
        const event = events[i] as RecordedEvent
        try {
          await w.p.handle(event, sinkContext)
        } catch (cause) {
          throw new HandlerFailedError(w.p.name, event.eventId, i, { cause })
        }
      }
    },
  })
  switch (result.status) {
    case 'committed': {
      if (checkpoint) track.checkpoint = checkpoint
      track.eventsDone += events.length
      w.eventsProcessed += events.length
      ctx.metrics.processed.inc({ projection: w.p.name }, events.length)
      const rejections = 'rejections' in result ? result.rejections : undefined
      if (rejections && rejections.length > 0) {
        await parkEvents(
          ctx,
          w,
          track,
          rejections.map((r) => ({
            event: events[r.index] as RecordedEvent,
            reason: 'failed',
            error: r.error,
            attempts: 1,
          })),
        )
        for (const r of rejections) track.blocked.add((events[r.index] as RecordedEvent).streamId)
      }
      return result
    }
    case 'fenced':
      log.warn(
        { projection: w.p.name, token: lease.token.toString(), events: events.length },
        'commit fenced: a newer lease owner exists, nothing written',
      )
      return loseLease(w, lease)
    case 'conflict':
      return adoptStoredCheckpoint(ctx, w, track, result.actual)
    case 'duplicate':
      return result
  }
}

/**
 * @internal The sink holds another checkpoint than the track (seen by a commit's compare-and-set or by
 * the control tick's check): take the stored one and throw {@link CheckpointMoved} so the loop reads on
 * from there. None stored means the generation's data is gone (Redis lost it, say): it is rebuilt from
 * zero, and the live one's readers are pointed back at it.
 */
export async function adoptStoredCheckpoint(
  ctx: CommitContext,
  w: ProjectionWorker,
  track: Track,
  actual: LogCheckpoint | null,
): Promise<never> {
  const lease = leaseOf(w)
  const fields = {
    projection: w.p.name,
    generation: track.generation,
    expected: formatCheckpoint(track.checkpoint),
    actual: formatCheckpoint(actual),
  }
  if (actual === null) {
    ctx.metrics.checkpointLost.inc({ projection: w.p.name })
    ctx.log.error(fields, 'checkpoint missing in the sink (data lost?): rebuilding this generation from zero')
  } else ctx.log.warn(fields, 'checkpoint moved under us: re-reading')
  track.checkpoint = actual
  track.caughtUp = false
  if (actual === null && track === w.live)
    await w.p.sink.activate(sinkTarget(ctx.tables, w, track.generation), lease.token)
  throw new CheckpointMoved()
}

/** @internal Parks events as dead letters of the track's generation (idempotent), under the lease. */
export async function parkEvents(
  ctx: CommitContext,
  w: ProjectionWorker,
  track: Track,
  parked: readonly ParkedEvent[],
): Promise<void> {
  const lease = leaseOf(w)
  if (!(await ctx.deadLetters.park(w.p.name, track.generation, lease.token, parked))) loseLease(w, lease)
  w.deadLetters += parked.length
  for (const x of parked) {
    const error = x.reason === 'failed' ? describeError(x.error) : null
    if (error) w.lastError = error.message
    ctx.log.warn(
      {
        projection: w.p.name,
        eventId: x.event.eventId,
        stream: x.event.streamId,
        reason: x.reason,
        attempts: x.attempts,
        ...(error ? { error: error.message, code: error.code, err: x.error } : {}),
      },
      error
        ? `event parked as a dead letter: ${error.message}`
        : 'event parked behind an earlier dead letter of its stream',
    )
  }
}

/** @internal A handler's error as a dead letter's log line and the status show it: its message and code. */
export function describeError(error: unknown): { message: string; code: string | null } {
  const message = error instanceof Error ? error.message : String(error)
  const code = (error as { code?: unknown } | null)?.code
  return { message, code: typeof code === 'string' || typeof code === 'number' ? String(code) : null }
}
