import { InvalidArgumentError } from './errors.js'

/** A delay function: milliseconds to wait before retry number `attempt` (1-based). */
export type Backoff = (attempt: number) => number

const JITTERS = ['half', 'full', 'none'] as const

/**
 * How long to wait before retry number `attempt` (1 = the first retry): exponential settings, or a
 * function of the attempt. The one backoff vocabulary of every Annals package.
 */
export type BackoffPolicy =
  | Backoff
  | Readonly<{
      /** Delay before the first retry, in milliseconds. */
      initialDelayMs?: number
      /** Upper bound of any one delay, in milliseconds. */
      maxDelayMs?: number
      /** Growth per attempt. Default 2. */
      factor?: number
      /**
       * `'half'` draws each delay from [d/2, d] (keeps a floor, so a busy dependency gets its rest);
       * `'full'` from [0, d) (spreads racing writers furthest); `'none'` waits exactly d. Default `'half'`.
       */
      jitter?: (typeof JITTERS)[number]
    }>

/** Defaults a package applies when the caller's policy leaves a setting out. */
export type BackoffDefaults = Readonly<{
  initialDelayMs: number
  maxDelayMs: number
  jitter?: (typeof JITTERS)[number]
}>

/**
 * Turns a {@link BackoffPolicy} into a delay function; settings left out come from `defaults`. A
 * policy whose `initialDelayMs` exceeds the default ceiling raises the ceiling with it (a caller who
 * asks for 10 s between attempts means it). Throws `ANNALS_ERR_INVALID_ARGUMENT` for bad settings.
 * @example const delay = toBackoff({ initialDelayMs: 50 }, { initialDelayMs: 100, maxDelayMs: 5_000 }); await sleep(delay(attempt))
 */
export function toBackoff(policy: BackoffPolicy | undefined, defaults: BackoffDefaults): Backoff {
  if (typeof policy === 'function') return policy
  const initialDelayMs = policy?.initialDelayMs ?? defaults.initialDelayMs
  const maxDelayMs = policy?.maxDelayMs ?? Math.max(defaults.maxDelayMs, initialDelayMs)
  const factor = policy?.factor ?? 2
  const jitter = policy?.jitter ?? defaults.jitter ?? 'half'
  if (!(initialDelayMs >= 0 && Number.isFinite(initialDelayMs))) {
    throw new InvalidArgumentError('backoff.initialDelayMs', 'must be a finite number >= 0')
  }
  if (!(maxDelayMs >= initialDelayMs)) throw new InvalidArgumentError('backoff.maxDelayMs', 'must be >= initialDelayMs')
  if (!(factor >= 1 && Number.isFinite(factor))) throw new InvalidArgumentError('backoff.factor', 'must be >= 1')
  if (!JITTERS.includes(jitter)) {
    throw new InvalidArgumentError('backoff.jitter', `must be one of ${JITTERS.map((j) => `'${j}'`).join(', ')}`)
  }
  return (attempt) => {
    // 0 * factor ** n is NaN once factor ** n overflows to Infinity; a zero delay stays zero.
    const grown = initialDelayMs === 0 ? 0 : initialDelayMs * factor ** Math.max(0, attempt - 1)
    const ceiling = Math.min(maxDelayMs, grown)
    if (jitter === 'full') return Math.floor(Math.random() * ceiling)
    if (jitter === 'half') return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
    return Math.round(ceiling)
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, ms))
}
