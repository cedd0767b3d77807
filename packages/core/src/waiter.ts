/**
 * A worker loop's pause between polls that new work or a stop can cut short: the one sleep the
 * projection runner, the outbox relay and the stream consumer share.
 */
export type Waiter = Readonly<{
  /** Resolves true when woken, false when the time ran out. */
  wait(ms: number): Promise<boolean>
  /** Ends the current wait; with nobody waiting, the next wait ends at once (a stop is never missed). */
  wake(): void
  /** Ends the current wait only; with nobody waiting it does nothing (the caller tracks the wake-up itself). */
  interrupt(): void
}>

/**
 * Creates a {@link Waiter}.
 * @example const waiter = createWaiter(); watcher.onWake(() => waiter.wake()); await waiter.wait(pollIntervalMs)
 */
export function createWaiter(): Waiter {
  let pending: ((byWake: boolean) => void) | null = null
  let woken = false
  return {
    wait(ms: number): Promise<boolean> {
      if (woken) {
        woken = false
        return Promise.resolve(true)
      }
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => done(false), ms)
        function done(byWake: boolean) {
          clearTimeout(timer)
          pending = null
          resolve(byWake)
        }
        pending = done
      })
    },
    wake(): void {
      if (pending) pending(true)
      else woken = true
    },
    interrupt(): void {
      pending?.(true)
    },
  }
}
