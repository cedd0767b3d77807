import { afterEach, describe, expect, it, vi } from 'vitest'
import { type BackoffDefaults, type BackoffPolicy, sleep, toBackoff } from './backoff.js'
import { isAnnalsError } from './errors.js'

const defaults: BackoffDefaults = { initialDelayMs: 100, maxDelayMs: 1_000 }

/** Delays for attempts 1..n with Math.random pinned to `random`. */
function delays(policy: BackoffPolicy | undefined, random: number, n = 6, base = defaults): number[] {
  const spy = vi.spyOn(Math, 'random').mockReturnValue(random)
  try {
    const delay = toBackoff(policy, base)
    return Array.from({ length: n }, (_, i) => delay(i + 1))
  } finally {
    spy.mockRestore()
  }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('toBackoff', () => {
  it('grows by the factor from the initial delay and never passes the ceiling', () => {
    expect(delays({ jitter: 'none' }, 0.5)).toEqual([100, 200, 400, 800, 1_000, 1_000])
    expect(delays({ jitter: 'none', factor: 3, initialDelayMs: 10, maxDelayMs: 500 }, 0.5)).toEqual([
      10, 30, 90, 270, 500, 500,
    ])
    expect(delays({ jitter: 'none', factor: 1 }, 0.5, 3)).toEqual([100, 100, 100])
  })

  it('takes the package defaults for every setting left out, with half jitter by default', () => {
    expect(delays(undefined, 0)).toEqual([50, 100, 200, 400, 500, 500])
    expect(delays(undefined, 0.999_999)).toEqual([100, 200, 400, 800, 1_000, 1_000])
    expect(delays({}, 0, 2, { ...defaults, jitter: 'none' })).toEqual([100, 200])
    expect(delays({ jitter: 'half' }, 0, 2, { ...defaults, jitter: 'none' })).toEqual([50, 100])
  })

  it('raises the default ceiling to an initial delay above it, but keeps an explicit ceiling', () => {
    expect(delays({ initialDelayMs: 5_000, jitter: 'none' }, 0.5, 2)).toEqual([5_000, 5_000])
    expect(() => toBackoff({ initialDelayMs: 5_000, maxDelayMs: 1_000 }, defaults)).toThrow(/maxDelayMs/)
  })

  it.each([
    ['half', 0, [50, 100, 200]],
    ['half', 0.999_999, [100, 200, 400]],
    ['full', 0, [0, 0, 0]],
    ['full', 0.999_999, [99, 199, 399]],
    ['none', 0, [100, 200, 400]],
    ['none', 0.999_999, [100, 200, 400]],
  ] as const)('draws %s jitter within its bounds (random %s)', (jitter, random, expected) => {
    expect(delays({ jitter }, random, 3)).toEqual(expected)
  })

  it('keeps every jittered delay within [0, ceiling], half jitter at or above half of it', () => {
    for (const jitter of ['half', 'full'] as const) {
      const delay = toBackoff({ jitter, initialDelayMs: 7, maxDelayMs: 300, factor: 1.7 }, defaults)
      for (let attempt = 1; attempt <= 40; attempt++) {
        const ceiling = Math.min(300, 7 * 1.7 ** (attempt - 1))
        const value = delay(attempt)
        expect(Number.isInteger(value)).toBe(true)
        expect(value).toBeLessThanOrEqual(Math.ceil(ceiling))
        expect(value).toBeGreaterThanOrEqual(jitter === 'half' ? Math.floor(ceiling / 2) : 0)
      }
    }
  })

  it('treats attempt 0 (or below) like the first retry and stays finite for huge attempts', () => {
    const delay = toBackoff({ jitter: 'none' }, defaults)
    expect(delay(0)).toBe(100)
    expect(delay(-3)).toBe(100)
    expect(delay(10_000)).toBe(1_000)
    expect(toBackoff({ jitter: 'none', initialDelayMs: 0 }, defaults)(10_000)).toBe(0)
  })

  it('returns a function policy as it is', () => {
    const policy = (attempt: number) => attempt * 7
    expect(toBackoff(policy, defaults)).toBe(policy)
  })

  it.each([
    [{ initialDelayMs: -1 }, 'backoff.initialDelayMs'],
    [{ initialDelayMs: Number.NaN }, 'backoff.initialDelayMs'],
    [{ initialDelayMs: Number.POSITIVE_INFINITY }, 'backoff.initialDelayMs'],
    [{ initialDelayMs: 10, maxDelayMs: 5 }, 'backoff.maxDelayMs'],
    [{ maxDelayMs: Number.NaN }, 'backoff.maxDelayMs'],
    [{ factor: 0.5 }, 'backoff.factor'],
    [{ factor: Number.NaN }, 'backoff.factor'],
    [{ jitter: 'some' }, 'backoff.jitter'],
  ])('rejects %o with ANNALS_ERR_INVALID_ARGUMENT naming %s', (policy, argument) => {
    let error: unknown
    try {
      toBackoff(policy as BackoffPolicy, defaults)
    } catch (e) {
      error = e
    }
    expect(isAnnalsError(error, 'ANNALS_ERR_INVALID_ARGUMENT')).toBe(true)
    expect((error as { argument: string }).argument).toBe(argument)
  })

  it('validates the defaults a package passes too', () => {
    expect(() => toBackoff(undefined, { initialDelayMs: -5, maxDelayMs: 10 })).toThrow(/initialDelayMs/)
  })
})

describe('sleep', () => {
  it('resolves after the given milliseconds, not before', async () => {
    vi.useFakeTimers()
    let done = false
    const waiting = sleep(50).then(() => {
      done = true
    })
    await vi.advanceTimersByTimeAsync(49)
    expect(done).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await waiting
    expect(done).toBe(true)
  })
})
