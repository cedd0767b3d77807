import { describe, expect, it } from 'vitest'
import { isAnnalsError } from './errors.js'
import { toExpectedVersion } from './expected-version.js'

describe('toExpectedVersion', () => {
  it('accepts bigints from 0n and the three named expectations', () => {
    for (const value of [0n, 7n, 'any', 'no-stream', 'stream-exists'] as const)
      expect(toExpectedVersion(value)).toBe(value)
  })

  it('refuses a number with ANNALS_ERR_INVALID_ARGUMENT saying which bigint to write', () => {
    let thrown: unknown
    try {
      toExpectedVersion(1)
    } catch (error) {
      thrown = error
    }
    expect(isAnnalsError(thrown, 'ANNALS_ERR_INVALID_ARGUMENT')).toBe(true)
    expect((thrown as Error).message).toBe(
      'Invalid expectedVersion: stream versions are bigints: use 1n, not the number 1 (BigInt(n) converts one)',
    )
    expect(() => toExpectedVersion(2.5)).toThrow('use a bigint such as 1n, not the number 2.5')
    expect(() => toExpectedVersion(-1)).toThrow('use a bigint such as 1n')
  })

  it('refuses negative bigints and unknown values', () => {
    expect(() => toExpectedVersion(-1n)).toThrow('must be >= 0n (got -1n)')
    expect(() => toExpectedVersion('latest')).toThrow(
      `unknown value "latest" (expected a bigint such as 1n, 'any', 'no-stream' or 'stream-exists')`,
    )
  })
})
