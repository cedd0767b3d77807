/** Options of {@link waitFor}. */
export type WaitForOptions = Readonly<{
  /** Give up after this long. Default 20 s. */
  timeoutMs?: number
  /** Poll this often. Default 25 ms. */
  everyMs?: number
}>

/**
 * Polls `probe` until it returns a value other than `undefined`, `null` or `false`, and returns it.
 * A probe that throws is polled again; on timeout the error names `what` and the last failure.
 * @example const row = await waitFor('the saga to complete', () => admin.get(id).then((s) => s?.status === 'completed' && s))
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  options: WaitForOptions | number = {},
): Promise<T> {
  const { timeoutMs = 20_000, everyMs = 25 } = typeof options === 'number' ? { timeoutMs: options } : options
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== null && value !== false) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
