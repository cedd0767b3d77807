import { describe, expect, it } from 'vitest'
import { createCommandRegistry } from './command.js'
import { isAnnalsError, type ValidationError } from './errors.js'
import { Deposit, OpenAccount } from './test-support/account.fixture.js'
import { thrown } from './test-support/thrown.fixture.js'

const commands = createCommandRegistry([OpenAccount, Deposit], 'account')

describe('commands', () => {
  it('parse applies schema defaults and keeps metadata', () => {
    const parsed = commands.parse(Deposit.create({ accountId: 'a', cents: 5 }, { idempotencyKey: 'k' }))
    expect(parsed).toEqual({
      type: 'Deposit',
      data: { accountId: 'a', cents: 5, currency: 'EUR' },
      metadata: { idempotencyKey: 'k' },
    })
  })

  it('rejects invalid data with a ValidationError naming each field path', () => {
    const error = thrown(() =>
      commands.parse({ type: 'Deposit', data: { accountId: 1, cents: -3 } }),
    ) as ValidationError
    expect(isAnnalsError(error, 'ANNALS_ERR_VALIDATION')).toBe(true)
    expect(error.subject).toBe('command "Deposit"')
    expect(error.issues.map((i) => i.path)).toEqual([['accountId'], ['cents']])
    expect(error.message).toContain('cents')
  })

  it('rejects a missing field', () => {
    const error = thrown(() => commands.parse({ type: 'OpenAccount', data: { accountId: 'a' } })) as ValidationError
    expect(error.issues.map((i) => i.path)).toEqual([['owner']])
  })

  it('rejects a command type the aggregate does not declare', () => {
    const error = thrown(() => commands.parse({ type: 'Withdraw', data: {} }))
    expect(isAnnalsError(error, 'ANNALS_ERR_UNKNOWN_COMMAND_TYPE')).toBe(true)
  })
})
