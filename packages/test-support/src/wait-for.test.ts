import { describe, expect, it } from 'vitest'
import { waitFor } from './wait-for.js'

describe('waitFor', () => {
  it('returns the first truthy probe value, polling through falsy values and thrown errors', async () => {
    let calls = 0
    const value = await waitFor(
      'the third call',
      () => {
        calls++
        if (calls === 1) throw new Error('not yet')
        return calls >= 3 ? { calls } : false
      },
      { everyMs: 1 },
    )
    expect(value).toEqual({ calls: 3 })
  })

  it('names what it waited for and the last failure on timeout', async () => {
    await expect(
      waitFor(
        'a miracle',
        () => {
          throw new Error('still broken')
        },
        { timeoutMs: 30, everyMs: 5 },
      ),
    ).rejects.toThrow('timed out waiting for a miracle: Error: still broken')
  })
})
