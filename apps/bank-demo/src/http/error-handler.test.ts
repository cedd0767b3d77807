import { CoreErrorCodes, DomainError, ValidationError } from '@annals/core'
import { describe, expect, it } from 'vitest'
import { BankErrorCodes } from '../accounts/account.js'
import { statusOfCode, toProblem } from './error-handler.js'

describe('error handler', () => {
  it('maps every bank domain code to a 4xx status, never a 500', () => {
    for (const code of Object.values(BankErrorCodes)) {
      const status = statusOfCode(code)
      expect(status, code).toBeGreaterThanOrEqual(400)
      expect(status, code).toBeLessThan(500)
      expect(toProblem(new DomainError(code, 'x')).status).toBe(status)
    }
  })

  it('maps the core codes a request can cause', () => {
    expect(statusOfCode(CoreErrorCodes.CONCURRENCY)).toBe(409)
    expect(statusOfCode(CoreErrorCodes.RETRIES_EXHAUSTED)).toBe(409)
    expect(statusOfCode(CoreErrorCodes.IDEMPOTENCY_KEY_REUSED)).toBe(422)
    expect(statusOfCode(CoreErrorCodes.VALIDATION)).toBe(400)
  })

  it('names the invalid fields of a core validation error', () => {
    const problem = toProblem(new ValidationError('command', [{ path: ['amount'], message: 'must be positive' }]))
    expect(problem).toMatchObject({ status: 400, errors: [{ field: 'amount', message: 'must be positive' }] })
  })

  it('hides unexpected errors behind a generic 500', () => {
    const problem = toProblem(new Error('connection refused to 10.0.0.3'))
    expect(problem.status).toBe(500)
    expect(problem.detail).not.toContain('10.0.0.3')
  })
})
