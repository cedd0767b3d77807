import { InvalidOptionError } from './errors.js'

/** How long to wait before retry number `attempt` (1 = the first retry): a function, or exponential settings. */
export type BackoffPolicy =
  | ((attempt: number) => number)
  | Readonly<{
      /** Delay before the first retry. Default 500 ms. */
      initialMs?: number
      /** Upper bound of any delay. Default 60 s. */
      maxMs?: number
      /** Growth per attempt. Default 2. */
      factor?: number
      /** Randomise each delay in [delay/2, delay] so that relays do not retry in lockstep. Default true. */
      jitter?: boolean
    }>

/** Exponential backoff: `initialMs * factor^(attempt-1)`, capped at `maxMs`, optionally jittered. */
export function exponentialBackoff(
  options: Exclude<BackoffPolicy, (attempt: number) => number> = {},
): (attempt: number) => number {
  const initialMs = options.initialMs ?? 500
  const maxMs = options.maxMs ?? 60_000
  const factor = options.factor ?? 2
  const jitter = options.jitter ?? true
  if (!(initialMs >= 0)) throw new InvalidOptionError('backoff.initialMs', 'must be >= 0')
  if (!(maxMs >= initialMs)) throw new InvalidOptionError('backoff.maxMs', 'must be >= initialMs')
  if (!(factor >= 1)) throw new InvalidOptionError('backoff.factor', 'must be >= 1')
  return (attempt) => {
    const raw = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1))
    return Math.round(jitter ? raw / 2 + (Math.random() * raw) / 2 : raw)
  }
}

/** Turns a {@link BackoffPolicy} into a delay function. @internal */
export function toBackoff(policy: BackoffPolicy | undefined): (attempt: number) => number {
  return typeof policy === 'function' ? policy : exponentialBackoff(policy)
}
