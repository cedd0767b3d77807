import { describe, expect, it } from 'vitest'
import {
  Account,
  AccountOpened,
  Deposit,
  MoneyDeposited,
  OpenAccount,
  Withdraw,
} from '../test-support/account.fixture.js'
import { deciderSpec, given } from './decider-spec.js'

const spec = deciderSpec(Account)
const opened = AccountOpened.create({ accountId: 'a', owner: 'Ada' })

describe('given/when/then', () => {
  it('passes when decide produces the expected events', () => {
    spec
      .given([opened])
      .when(Deposit.create({ accountId: 'a', cents: 5 }))
      .then([MoneyDeposited.create({ cents: 5, currency: 'EUR' })])
    given(Account, [])
      .when(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      .then(opened)
  })

  it('fails when the events differ', () => {
    expect(() =>
      spec
        .given([opened])
        .when(Deposit.create({ accountId: 'a', cents: 5 }))
        .then([MoneyDeposited.create({ cents: 6, currency: 'EUR' })]),
    ).toThrow()
  })

  it('thenThrows passes on the expected code and fails otherwise', () => {
    const error = spec
      .given([opened])
      .when(Withdraw.create({ accountId: 'a', cents: 1 }))
      .thenThrows('INSUFFICIENT_FUNDS')
    expect(error.name).toBe('DomainError')
    expect(() =>
      spec
        .given([opened])
        .when(Withdraw.create({ accountId: 'a', cents: 1 }))
        .thenThrows('OTHER'),
    ).toThrow()
    expect(() =>
      spec
        .given([opened])
        .when(Deposit.create({ accountId: 'a', cents: 1 }))
        .thenThrows('INSUFFICIENT_FUNDS'),
    ).toThrow(/expected decide to throw/)
  })

  it('validates the command like the handler does', () => {
    spec
      .given([opened])
      .when({ type: 'Deposit', data: { accountId: 'a', cents: -1 } })
      .thenThrows('ANNALS_ERR_VALIDATION')
  })

  it('thenState checks the state after the produced events', () => {
    spec
      .given([opened, MoneyDeposited.create({ cents: 10, currency: 'EUR' })])
      .when(Withdraw.create({ accountId: 'a', cents: 4 }))
      .thenState({ status: 'open', owner: 'Ada', balance: 6n, movements: 2 })
  })

  it('thenNothing passes only when no event is produced', () => {
    spec
      .given([])
      .when({ type: 'CloseAccount', data: { accountId: 'a' } })
      .thenThrows('ACCOUNT_NOT_OPEN')
    expect(() =>
      spec
        .given([opened])
        .when(Deposit.create({ accountId: 'a', cents: 1 }))
        .thenNothing(),
    ).toThrow()
  })
})
