import type { ProjectionWorker } from './projection-worker.js'
import type { RunnerSettings } from './runner-options.js'

/**
 * @internal Logs one warning when the log's fence has held a projection's events back longer than
 * `stallWarningMs`, naming the transaction that holds it. Once per holder: the control tick calls this
 * every second, and an operator needs the name once, not a line per tick; a new holder (the first one
 * ended, another took its place) is a new stall and warns again.
 */
export function warnOfStall(settings: Pick<RunnerSettings, 'log' | 'stallWarningMs'>, w: ProjectionWorker): void {
  const fence = w.fence
  if (!fence) {
    w.stallWarnedFor = null
    return
  }
  // The lag is the age of the oldest event still to apply: how long the fence has kept it away.
  const stalledMs = w.lagSeconds * 1000
  const holder = fence.holder
  const key = holder ? holder.transactionId.toString() : 'unknown'
  if (stalledMs < settings.stallWarningMs || w.stallWarnedFor === key) return
  w.stallWarnedFor = key
  const named = holder
    ? `transaction ${holder.transactionId} of pid ${holder.pid ?? '(prepared)'} in database ${holder.database ?? '(none)'}` +
      ` (${holder.state}, open ${Math.round((Date.now() - holder.since.getTime()) / 1000)} s)`
    : 'a transaction that ended before it could be named'
  settings.log.warn(
    {
      projection: w.p.name,
      heldEvents: fence.heldEvents,
      stalledSeconds: w.lagSeconds,
      holder: holder
        ? {
            pid: holder.pid,
            transactionId: holder.transactionId.toString(),
            database: holder.database,
            applicationName: holder.applicationName,
            state: holder.state,
            since: holder.since.toISOString(),
            query: holder.query,
          }
        : null,
    },
    `projection ${w.p.name} stalled ${Math.round(w.lagSeconds)} s behind the log's fence, held by ${named}`,
  )
}
