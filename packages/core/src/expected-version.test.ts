import { describe, expect, it } from 'vitest'
import { isAnnalsError } from './errors.js'
import { checkExpectedVersion } from './expected-version.js'

describe('checkExpectedVersion', () => {
  it('accepts bigints from 0n and the three named expectations', () => {
    for (const value of [0n, 7n, 'any', 'no-stream', 'stream-exists'] as const)
      expect(checkExpectedVersion(value)).toBe(value)
  })

  it('refuses a number with ANNALS_ERR_INVALID_ARGUMENT saying which bigint to write', () => {
    let thrown: unknown
    try {
      checkExpectedVersion(1)
    } catch (error) {
      thrown = error
    }
    expect(isAnnalsError(thrown, 'ANNALS_ERR_INVALID_ARGUMENT')).toBe(true)
    expect((thrown as Error).message).toBe(
      'Invalid expectedVersion: stream versions are bigints: use 1n, not the number 1 (BigInt(n) converts one)',
    )
    expect(() => checkExpectedVersion(2.5)).toThrow('use a bigint such as 1n, not the number 2.5')
    expect(() => checkExpectedVersion(-1)).toThrow('use a bigint such as 1n')
  })

  it('refuses negative bigints and unknown values', () => {
    expect(() => checkExpectedVersion(-1n)).toThrow('must be a bigint from 0n to')
    expect(() => checkExpectedVersion('latest')).toThrow(
      `unknown value "latest" (expected a bigint such as 1n, 'any', 'no-stream' or 'stream-exists')`,
    )
  })
})
