import { describe, expect, it } from 'vitest'
import { exponentialBackoff } from './backoff.js'

describe('exponentialBackoff', () => {
  it('doubles from the initial delay up to the cap', () => {
    const delay = exponentialBackoff({ initialMs: 100, maxMs: 1000, jitter: false })
    expect([1, 2, 3, 4, 5, 6].map(delay)).toEqual([100, 200, 400, 800, 1000, 1000])
  })

  it('jitters within [delay/2, delay]', () => {
    const delay = exponentialBackoff({ initialMs: 100, maxMs: 1000 })
    for (let i = 0; i < 100; i++) {
      const d = delay(3)
      expect(d).toBeGreaterThanOrEqual(200)
      expect(d).toBeLessThanOrEqual(400)
    }
  })

  it('rejects nonsense settings with a coded error', () => {
    expect(() => exponentialBackoff({ initialMs: 10, maxMs: 5 })).toThrow(
      expect.objectContaining({ code: 'ANNALS_OUTBOX_ERR_INVALID_OPTION' }),
    )
  })
})
