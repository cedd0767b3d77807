import { describe, expect, it } from 'vitest'
import { resolveRunnerSettings, retryPolicy, STEP_FAILURE_BACKOFF } from './runner-options.js'

describe('runner options', () => {
  it('backs off exponentially within the cap', () => {
    const { delay } = retryPolicy({ initialDelayMs: 10, maxDelayMs: 1000 })
    for (let attempt = 1; attempt < 20; attempt++) {
      const d = delay(attempt)
      expect(d).toBeGreaterThanOrEqual(Math.min(1000, 10 * 2 ** (attempt - 1)) / 2)
      expect(d).toBeLessThanOrEqual(1000)
    }
  })

  it('retries 5 times from 50 ms up to 5 s by default, and waits the cap when the first delay exceeds it', () => {
    const defaults = retryPolicy(undefined)
    expect(defaults.maxAttempts).toBe(5)
    for (let i = 0; i < 50; i++) {
      expect(defaults.delay(1)).toBeGreaterThanOrEqual(25)
      expect(defaults.delay(1)).toBeLessThanOrEqual(50)
      expect(defaults.delay(30)).toBeGreaterThanOrEqual(2500)
      expect(defaults.delay(30)).toBeLessThanOrEqual(5000)
    }
    const capped = retryPolicy({ initialDelayMs: 10_000 })
    for (let i = 0; i < 50; i++) expect(capped.delay(1)).toBeLessThanOrEqual(5000)
  })

  it('backs off failed loop steps from 100 ms to at most 10 s', () => {
    for (let i = 0; i < 50; i++) {
      expect(STEP_FAILURE_BACKOFF(1)).toBeGreaterThanOrEqual(50)
      expect(STEP_FAILURE_BACKOFF(1)).toBeLessThanOrEqual(100)
      expect(STEP_FAILURE_BACKOFF(40)).toBeGreaterThanOrEqual(5000)
      expect(STEP_FAILURE_BACKOFF(40)).toBeLessThanOrEqual(10_000)
    }
  })

  it('rejects counts and durations below 1 with the option code', () => {
    const base = { pool: {} as never, store: {} as never, projections: [], logger: undefined }
    for (const bad of [
      { batchSize: 0 },
      { rebuildBatchSize: 1.5 },
      { pollIntervalMs: -1 },
      { leaseTtlMs: 0 },
      { controlIntervalMs: Number.NaN },
      { stallWarningMs: 0 },
      { retry: { maxAttempts: 0 } },
      { retry: { initialDelayMs: 0 } },
      { retry: { maxDelayMs: 0 } },
    ]) {
      expect(() => resolveRunnerSettings({ ...base, ...bad })).toThrow(
        expect.objectContaining({ code: 'ANNALS_PROJ_ERR_INVALID_OPTION' }),
      )
    }
    const settings = resolveRunnerSettings({ ...base, workerId: 'w1' })
    expect(settings).toMatchObject({
      workerId: 'w1',
      batchSize: 500,
      rebuildBatchSize: 2000,
      pollIntervalMs: 1000,
      leaseTtlMs: 10_000,
      controlIntervalMs: 1000,
      stallWarningMs: 30_000,
    })
  })
})
