/** Retry policy for a failing event: `maxAttempts` tries in all, waiting `initialDelayMs * 2^n` (capped) between. */
export type RetryOptions = Readonly<{
  /** Attempts per event before it is parked, the first one included. Default 5. */
  maxAttempts?: number
  /** Default 50 ms. */
  initialDelayMs?: number
  /** Default 5 s. */
  maxDelayMs?: number
}>

/** @internal Exponential backoff with full jitter on the upper half (avoids lock-step retries across workers). */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(exp / 2 + Math.random() * (exp / 2))
}

/** @internal A sleep that `wake()` cuts short. */
export function createWaiter() {
  let pending: ((byWake: boolean) => void) | null = null
  let woken = false
  return {
    /** Resolves true when woken, false when the time ran out. */
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
  }
}
