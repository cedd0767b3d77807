import { describe, expect, it } from 'vitest'
import * as core from './index.js'
import { errorCatalogueSuite } from './testing/error-catalogue-suite.js'

// One instance of every error class core exports (DomainError carries application codes).
const instances: core.AnnalsError[] = [
  new core.ConcurrencyError('s', 1n, 2n),
  new core.StreamNotFoundError('s'),
  new core.StreamAlreadyExistsError('s'),
  new core.ValidationError('command "X"', [{ path: ['a', 0], message: 'bad' }]),
  new core.UnknownEventTypeError('X'),
  new core.UnsupportedSchemaVersionError('X', 3, 2),
  new core.DuplicateEventIdError('id', 's', 'why'),
  new core.IdempotencyKeyReusedError('k'),
  new core.RetriesExhaustedError('s', 3),
  new core.AppendLimitExceededError('events', 1, 2),
  new core.InvalidArgumentError('x', 'bad'),
  new core.TimeTravelBackwardsError('s', new Date(0), new Date(1)),
  new core.UnknownCommandTypeError('X', 'agg'),
  new core.AsyncSchemaError('X'),
  new core.MasterKeyMismatchError('local'),
  new core.PersonalDataUnreadableError('id'),
]

errorCatalogueSuite({
  name: '@annals/core',
  codes: core.CoreErrorCodes,
  prefix: 'ANNALS_ERR_',
  entry: core,
  instances,
  docs: new URL('../docs/errors.md', import.meta.url),
})

describe('error catalogue', () => {
  it('sets the fields a class declares on the instance, with its cause, and names it after the class', () => {
    const cause = new Error('serialization failure')
    const error = new core.RetriesExhaustedError('s', 3, { cause })
    expect({ ...error }).toEqual({
      code: 'ANNALS_ERR_RETRIES_EXHAUSTED',
      name: 'RetriesExhaustedError',
      streamId: 's',
      attempts: 3,
    })
    expect(error.cause).toBe(cause)
    class InsufficientFunds extends core.AnnalsError<'BANK_INSUFFICIENT_FUNDS'> {
      declare readonly accountId: string
      constructor(accountId: string) {
        super('BANK_INSUFFICIENT_FUNDS', `account ${accountId} is short`, { fields: { accountId } })
      }
    }
    const own = new InsufficientFunds('acc-1')
    expect([own.name, own.accountId, Object.hasOwn(own, 'accountId')]).toEqual(['InsufficientFunds', 'acc-1', true])
  })

  it('guards recognise errors by code, also across package copies', () => {
    const foreign = { code: 'ANNALS_ERR_CONCURRENCY', message: 'from another copy' }
    expect(core.isConcurrencyError(foreign)).toBe(true)
    expect(core.isDuplicateEventIdError({ code: 'ANNALS_ERR_DUPLICATE_EVENT_ID' })).toBe(true)
    expect(core.isValidationError(new core.ConcurrencyError('s', 1n, 2n))).toBe(false)
    expect(core.isAnnalsError(new Error('plain'))).toBe(false)
  })

  it('lets callers branch on DomainError codes', () => {
    const error: unknown = new core.DomainError('BANK_INSUFFICIENT_FUNDS', 'not enough', { missing: 5 })
    expect(core.isDomainError(error, 'BANK_INSUFFICIENT_FUNDS')).toBe(true)
    expect(core.isDomainError(error, 'OTHER')).toBe(false)
    expect(core.isDomainError(new core.ConcurrencyError('s', 1n, 2n))).toBe(false)
    if (core.isDomainError(error, 'BANK_INSUFFICIENT_FUNDS')) expect(error.details).toEqual({ missing: 5 })
  })

  it('names the field path in validation messages', () => {
    const error = new core.ValidationError('command "Deposit"', [{ path: ['amount'], message: 'Too small' }])
    expect(error.message).toContain('amount: Too small')
  })
})
