/** @internal A sleep that `wake()` cuts short; a wake with nobody waiting ends the next wait at once. */
export type Waiter = Readonly<{
  /** Resolves true when woken, false when the time ran out. */
  wait(ms: number): Promise<boolean>
  wake(): void
}>

/** @internal Creates a {@link Waiter}. */
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
  }
}
