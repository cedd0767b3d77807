import { describe, expect, it } from 'vitest'
import { resolveRelaySettings } from './relay-options.js'

const backoffOf = (backoff: Parameters<typeof resolveRelaySettings>[0]['backoff']) =>
  resolveRelaySettings({ backoff }).backoff

describe('relay settings', () => {
  it('backs off exponentially from the initial delay up to the cap', () => {
    const delay = backoffOf({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'none' })
    expect([1, 2, 3, 4, 5, 6].map(delay)).toEqual([100, 200, 400, 800, 1000, 1000])
  })

  it('jitters each delay within [delay/2, delay] by default', () => {
    const delay = backoffOf({ initialDelayMs: 100, maxDelayMs: 1000 })
    for (let i = 0; i < 100; i++) {
      const d = delay(3)
      expect(d).toBeGreaterThanOrEqual(200)
      expect(d).toBeLessThanOrEqual(400)
    }
  })

  it('defaults to 500 ms doubling up to 60 s', () => {
    const delay = backoffOf(undefined)
    expect(delay(1)).toBeGreaterThanOrEqual(250)
    expect(delay(1)).toBeLessThanOrEqual(500)
    expect(delay(20)).toBeGreaterThanOrEqual(30_000)
    expect(delay(20)).toBeLessThanOrEqual(60_000)
  })

  it('takes a delay function as it is', () => {
    expect(backoffOf((attempt) => attempt * 7)(3)).toBe(21)
  })

  it('rejects nonsense backoff settings with the package option error', () => {
    expect(() => backoffOf({ initialDelayMs: 10, maxDelayMs: 5 })).toThrow(
      expect.objectContaining({ code: 'ANNALS_OUTBOX_ERR_INVALID_OPTION', option: 'backoff.maxDelayMs' }),
    )
  })

  it('keeps two batches in flight by default', () => {
    expect(resolveRelaySettings({}).pipelineDepth).toBe(2)
  })

  it.each([
    ['batchSize', { batchSize: 0 }],
    ['maxAttempts', { maxAttempts: 1.5 }],
    ['publishTimeoutMs', { publishTimeoutMs: -1 }],
    ['pipelineDepth', { pipelineDepth: 0 }],
  ] as const)('rejects a %s that is not a positive integer', (option, given) => {
    expect(() => resolveRelaySettings(given)).toThrow(
      expect.objectContaining({ code: 'ANNALS_OUTBOX_ERR_INVALID_OPTION', option }),
    )
  })
})
