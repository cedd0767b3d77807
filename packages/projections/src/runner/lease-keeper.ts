import type { ProjectionWorker } from './projection-worker.js'
import type { RunnerContext } from './runner-context.js'

/**
 * @internal Renews the held leases every third of their time to live while the runner runs. `stop`
 * resolves once no renewal is in flight: one that landed after the lease was released would keep
 * it alive for a whole time to live, shown as owned by a runner that is gone.
 */
export type LeaseKeeper = Readonly<{ start(): void; stop(): Promise<void> }>

/** @internal What the lease keeper uses. */
export type LeaseKeeperContext = Pick<RunnerContext, 'leases' | 'leaseTtlMs' | 'log'>

/** @internal Creates the {@link LeaseKeeper} of `workers`. */
export function createLeaseKeeper(ctx: LeaseKeeperContext, workers: readonly ProjectionWorker[]): LeaseKeeper {
  async function renewAll(): Promise<void> {
    for (const w of workers) {
      const lease = w.lease
      if (!lease || w.leaseLost) continue
      try {
        const renewed = await ctx.leases.renew(lease, ctx.leaseTtlMs)
        // The loop dropped or replaced this lease while the renewal was in flight: not ours to touch.
        if (w.lease !== lease) continue
        if (renewed) w.lease = renewed
        else {
          w.leaseLost = true
          // The loop may be waiting for events: wake it so it stands by now, not a poll later.
          w.waiter.wake()
        }
      } catch (error) {
        ctx.log.warn({ projection: w.p.name, err: error }, 'lease renewal failed')
      }
    }
  }

  return renewalTicker(ctx.leaseTtlMs, renewAll)
}

/**
 * @internal Runs `renew` every third of the lease time to live; `stop` resolves once no renewal is in
 * flight. The keeper of whole-projection leases and the keeper of partition leases both tick on it.
 */
export function renewalTicker(leaseTtlMs: number, renew: () => Promise<void>): LeaseKeeper {
  let timer: NodeJS.Timeout | null = null
  let inFlight: Promise<void> | null = null
  return {
    start() {
      timer = setInterval(
        () => {
          // A slow database must not pile renewals up.
          if (inFlight) return
          inFlight = renew().finally(() => {
            inFlight = null
          })
        },
        Math.max(100, Math.floor(leaseTtlMs / 3)),
      )
    },
    async stop() {
      if (timer) clearInterval(timer)
      timer = null
      await inFlight
    },
  }
}
