import { deciderSpec } from '@annals/core/testing'
import { describe, it } from 'vitest'
import {
  AccountClosed,
  AccountOpened,
  BankAccount,
  CloseAccount,
  DepositMoney,
  MoneyDeposited,
  MoneyWithdrawn,
  OpenAccount,
  WithdrawMoney,
} from './account.js'

const id = '5b7c4c2e-0d5e-4a8e-9a55-3c1f2a8b9d10'
const spec = deciderSpec(BankAccount)
const opened = AccountOpened.create({ accountId: id, owner: 'Ada', currency: 'EUR', overdraftLimit: 100 })

describe('BankAccount', () => {
  it('opens an account once', () => {
    spec
      .given([])
      .when(OpenAccount.create({ accountId: id, owner: 'Ada', currency: 'EUR', overdraftLimit: 100 }))
      .then(opened)
    spec
      .given([opened])
      .when(OpenAccount.create({ accountId: id, owner: 'Ada', currency: 'EUR' }))
      .thenThrows('BANK_ACCOUNT_EXISTS')
  })

  it('refuses money for an account that was never opened', () => {
    spec
      .given([])
      .when(DepositMoney.create({ accountId: id, amount: 5 }))
      .thenThrows('BANK_ACCOUNT_NOT_FOUND')
  })

  it('withdraws down to the overdraft limit and no further', () => {
    const deposited = MoneyDeposited.create({ accountId: id, amount: 50 })
    spec
      .given([opened, deposited])
      .when(WithdrawMoney.create({ accountId: id, amount: 150 }))
      .then(MoneyWithdrawn.create({ accountId: id, amount: 150 }))
    spec
      .given([opened, deposited])
      .when(WithdrawMoney.create({ accountId: id, amount: 151 }))
      .thenThrows('BANK_INSUFFICIENT_FUNDS')
  })

  it('rejects a deposit in another currency', () => {
    spec
      .given([opened])
      .when(DepositMoney.create({ accountId: id, amount: 5, currency: 'USD' }))
      .thenThrows('BANK_CURRENCY_MISMATCH')
  })

  it('rejects a deposit that would push the balance past 2^53 - 1', () => {
    spec
      .given([opened, MoneyDeposited.create({ accountId: id, amount: Number.MAX_SAFE_INTEGER })])
      .when(DepositMoney.create({ accountId: id, amount: 1 }))
      .thenThrows('BANK_BALANCE_OVERFLOW')
  })

  it('rejects amounts that are not positive safe integers', () => {
    for (const amount of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      spec
        .given([opened])
        .when(DepositMoney.create({ accountId: id, amount }))
        .thenThrows('ANNALS_ERR_VALIDATION')
    }
  })

  it('closes only at zero balance, and a closed account takes no money', () => {
    spec
      .given([opened, MoneyDeposited.create({ accountId: id, amount: 1 })])
      .when(CloseAccount.create({ accountId: id }))
      .thenThrows('BANK_BALANCE_NOT_ZERO')
    spec
      .given([opened])
      .when(CloseAccount.create({ accountId: id }))
      .then(AccountClosed.create({ accountId: id }))
    spec
      .given([opened, AccountClosed.create({ accountId: id })])
      .when(DepositMoney.create({ accountId: id, amount: 1 }))
      .thenThrows('BANK_ACCOUNT_CLOSED')
  })
})
