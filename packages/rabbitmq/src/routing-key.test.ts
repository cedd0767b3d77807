import { describe, expect, it } from 'vitest'
import { routingKeyOf } from './routing-key.js'

describe('routingKeyOf', () => {
  it.each([
    ['AccountDeposited', 'account.deposited'],
    ['MoneyTransferRequested', 'money.transfer.requested'],
    ['accountOpened', 'account.opened'],
    ['HTTPRequestFailed', 'http.request.failed'],
    ['Order2Placed', 'order2.placed'],
    ['billing.InvoicePaid', 'billing.invoice.paid'],
    ['account-closed', 'account.closed'],
    ['SNAKE_CASE_EVENT', 'snake.case.event'],
    ['Deposited', 'deposited'],
    ['account.deposited', 'account.deposited'],
  ])('%s → %s', (type, key) => {
    expect(routingKeyOf(type)).toBe(key)
  })

  it('never yields empty words, so a topic binding on a prefix always matches whole words', () => {
    expect(routingKeyOf('..Account__Deposited..')).toBe('account.deposited')
    expect(routingKeyOf('')).toBe('')
  })
})
