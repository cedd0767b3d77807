import { isLeaseLostError, isProjectionSupersededError, type ProjectionSupersededError } from '../errors.js'
import { type ApplyContext, processTrack } from './apply-batch.js'
import { type ControlContext, control } from './control.js'
import { switchOver, takeOver } from './generations.js'
import { CheckpointMoved, type ProjectionWorker, Stopping } from './projection-worker.js'
import type { RunnerContext } from './runner-context.js'
import { STEP_FAILURE_BACKOFF } from './runner-options.js'
import { publishedStatus } from './runner-status.js'

/** @internal What a projection's loop uses. */
export type LoopContext = ApplyContext &
  ControlContext &
  Pick<
    RunnerContext,
    | 'leases'
    | 'watcher'
    | 'wakeUps'
    | 'batchSize'
    | 'rebuildBatchSize'
    | 'pollIntervalMs'
    | 'leaseTtlMs'
    | 'controlIntervalMs'
  >

/**
 * @internal One projection's loop until the runner stops: take the lease (or stand by), then read and
 * apply batches, waiting for wake-ups or the poll interval when caught up. Lease loss drops the
 * state and stands by; a definition older than the highest version deployed stands by as
 * `superseded` (the lease store refuses it); other failures back off and retry. The lease is left to
 * {@link finishProjection}.
 */
export async function runProjectionLoop(ctx: LoopContext, w: ProjectionWorker, stop: AbortSignal): Promise<void> {
  const { log } = ctx
  let failures = 0
  let recheckMs = 0
  // The last wait ended by a wake-up.
  let woken = false
  let stepError: string | null = null
  while (!ctx.isStopping()) {
    try {
      if (!w.lease) {
        const lease = await ctx.leases.acquire(w.p.name, ctx.workerId, ctx.leaseTtlMs, w.p.version)
        if (!lease) {
          w.state = 'standby'
          // Not the waiter: wake-ups announce appends, and a standby has nothing to do with them.
          await sleepUnlessStopped(standbyPause(ctx), stop)
          continue
        }
        w.lease = lease
        w.leaseLost = false
        w.supersededBy = null
        log.info({ projection: w.p.name, token: lease.token.toString() }, 'lease acquired')
        await takeOver(ctx, w)
      }
      const before = w.eventsProcessed
      const liveBefore = w.live
      const checkpointBefore = w.live?.checkpoint
      const more = await step(ctx, w)
      if (failures > 0) {
        failures = 0
        // Recovered: the step's failure is over (an event parked meanwhile keeps its error shown).
        if (w.lastError === stepError) w.lastError = null
      }
      const liveMoved = w.live !== liveBefore || w.live?.checkpoint !== checkpointBefore
      // The fence held the live checkpoint where it was: that it moved means the hold is over.
      if (liveMoved) w.fence = null
      const advanced = liveMoved || w.eventsProcessed > before
      if (ctx.watcher) watchWakeUps(ctx, w, advanced, woken)
      // A wake-up that found nothing: the event may still sit behind the log's fence (a transaction
      // open elsewhere on the server). Look again soon, backing off, instead of a whole poll later.
      if (!w.polled && !advanced) recheckMs = recheckMs === 0 ? 10 : recheckMs * 2
      else recheckMs = 0
      if (recheckMs > ctx.pollIntervalMs / 2) recheckMs = 0
      w.polled = false
      woken = false
      if (!more && !ctx.isStopping()) {
        woken = await w.waiter.wait(recheckMs > 0 ? recheckMs : ctx.pollIntervalMs)
        w.polled = !woken && recheckMs === 0
      }
    } catch (error) {
      if (error instanceof Stopping) break
      if (error instanceof CheckpointMoved) continue
      if (isProjectionSupersededError(error)) {
        standDown(ctx, w, error)
        await sleepUnlessStopped(standbyPause(ctx), stop)
        continue
      }
      if (isLeaseLostError(error) || w.leaseLost) {
        log.warn({ projection: w.p.name, token: w.lease?.token.toString() }, 'lease lost: standing by')
        w.lease = null
        w.leaseLost = false
        w.live = null
        w.building = null
        w.state = 'standby'
        continue
      }
      failures++
      w.state = 'error'
      stepError = error instanceof Error ? error.message : String(error)
      w.lastError = stepError
      log.error({ projection: w.p.name, err: error, failures }, 'projection step failed: retrying')
      await w.waiter.wait(STEP_FAILURE_BACKOFF(failures))
    }
  }
  w.state = 'stopped'
}

/**
 * @internal After a clean stop (the loop ended, no renewal in flight): publishes the final status,
 * `stopped` with the checkpoint reached, so that other processes see where it stopped, then lets
 * the lease expire now so that a standby takes over at once.
 */
export async function finishProjection(ctx: LoopContext, w: ProjectionWorker): Promise<void> {
  const lease = w.lease
  w.lease = null
  w.state = 'stopped'
  if (!lease || w.leaseLost) return
  try {
    await ctx.registry.publishStatus(w.p.name, lease.token, publishedStatus(w, ctx.workerId))
  } catch (error) {
    ctx.log.warn({ projection: w.p.name, err: error }, 'final status not published')
  }
  try {
    await ctx.leases.release(lease)
  } catch (error) {
    ctx.log.warn({ projection: w.p.name, err: error }, 'lease release failed (it will expire)')
  }
}

/** How long a worker without the lease waits before asking for it again. */
function standbyPause(ctx: LoopContext): number {
  return Math.max(200, Math.floor(ctx.leaseTtlMs / 4))
}

// A superseded worker idles like a standby (it keeps asking, at the standby pace, and is refused) so
// that it stays visible in status and metrics and stops with the runner; it warns once per version.
function standDown(ctx: LoopContext, w: ProjectionWorker, error: ProjectionSupersededError): void {
  w.state = 'superseded'
  if (w.supersededBy === error.highestVersion) return
  w.supersededBy = error.highestVersion
  ctx.log.warn(
    { projection: w.p.name, version: error.version, highestVersion: error.highestVersion, code: error.code },
    'projection superseded by a higher version: standing by',
  )
}

/** One pass: control when due, a batch of the build in progress, a batch of the live generation. */
async function step(ctx: LoopContext, w: ProjectionWorker): Promise<boolean> {
  if (Date.now() - w.lastControlAt >= ctx.controlIntervalMs) await control(ctx, w)
  let more = false
  if (w.building) {
    w.state = 'rebuilding'
    if (await processTrack(ctx, w, w.building, ctx.rebuildBatchSize)) await switchOver(ctx, w)
    else more = true
  }
  const live = w.live
  if (live && !live.frozen) {
    // Behind (first build, catching up after downtime): read in rebuild-sized batches.
    if (!(await processTrack(ctx, w, live, live.caughtUp ? ctx.batchSize : ctx.rebuildBatchSize))) more = true
  }
  w.state = w.building ? 'rebuilding' : more ? 'catching-up' : 'live'
  return more
}

/**
 * Watchdog over the wake-up source: the log advanced on a poll although no wake-up came since the
 * step before, so LISTEN may be dead (the watcher reconnects on its own; polling bounds the delay
 * meanwhile). Not a miss: a wake-up that arrived while the reader was busy, even one handled after
 * the poll timer fired, nor a poll that finds what an earlier wake-up announced while the fence
 * still hid it.
 */
function watchWakeUps(ctx: LoopContext, w: ProjectionWorker, advanced: boolean, woken: boolean): void {
  const wakeUps = ctx.wakeUps()
  const announced = wakeUps !== w.wakeUpsSeen
  w.wakeUpsSeen = wakeUps
  if (!advanced) {
    if (woken) w.wakeUnanswered = true
    return
  }
  const missed = w.polled && !announced && !w.wakeUnanswered
  w.wakeUnanswered = false
  if (missed) missedWakeUp(ctx, w)
}

function missedWakeUp(ctx: LoopContext, w: ProjectionWorker): void {
  ctx.metrics.missedWakeUps.inc({ projection: w.p.name })
  if (Date.now() - w.lastMissedWakeWarnAt < 60_000) return
  w.lastMissedWakeWarnAt = Date.now()
  ctx.log.warn(
    { projection: w.p.name, pollIntervalMs: ctx.pollIntervalMs },
    'polling found events without a wake-up: is LISTEN down?',
  )
}

function sleepUnlessStopped(ms: number, stop: AbortSignal): Promise<void> {
  if (stop.aborted) return Promise.resolve()
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer)
      stop.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    stop.addEventListener('abort', done, { once: true })
  })
}
