import { isAnnalsError } from '@annals/core'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { Account, Mailbox, MoneyDeposited } from '../examples/bank-transfer.js'
import { defineReactor } from './reactor.js'
import { awaitEvents, defineSaga, startOn } from './saga-definition.js'

const input = z.object({ id: z.string(), account: z.string() })
const withdraw = {
  aggregate: Account,
  command: () => ({ type: 'Withdraw' as const, data: { accountId: 'a', amount: 1 } }),
} as const
const deposit = () => ({ type: 'Deposit' as const, data: { accountId: 'a', amount: 1 } })
const receipt = {
  aggregate: Mailbox,
  command: () => ({ type: 'SendReceipt' as const, data: { mailbox: 'm', transferId: 't' } }),
} as const

const invalid = (make: () => unknown, pattern: RegExp) => {
  let caught: unknown
  try {
    make()
  } catch (error) {
    caught = error
  }
  expect(isAnnalsError(caught, 'ANNALS_SAGA_ERR_INVALID_DEFINITION')).toBe(true)
  expect((caught as Error).message).toMatch(pattern)
}

describe('defineSaga', () => {
  it('accepts irreversible steps ordered last, after the compensated ones', () => {
    const saga = defineSaga({
      name: 'ok',
      input,
      steps: (step) => [
        step({ name: 'debit', ...withdraw, compensate: deposit }),
        step({ name: 'check', ...withdraw }),
        step({ name: 'mail', ...receipt, irreversible: true }),
        step({ name: 'mail-again', ...receipt, irreversible: true }),
      ],
    })
    expect(saga.steps.map((s) => [s.name, s.irreversible, s.compensate !== undefined])).toEqual([
      ['debit', false, true],
      ['check', false, false],
      ['mail', true, false],
      ['mail-again', true, false],
    ])
  })

  it('rejects a compensated step after an irreversible one', () => {
    invalid(
      () =>
        defineSaga({
          name: 'bad',
          input,
          steps: (step) => [
            step({ name: 'mail', ...receipt, irreversible: true }),
            step({ name: 'debit', ...withdraw, compensate: deposit }),
          ],
        }),
      /"debit" has a compensation but comes after the irreversible step "mail"/,
    )
  })

  it('rejects duplicate step names, empty steps, bad names and an irreversible step with a compensation', () => {
    invalid(
      () =>
        defineSaga({
          name: 'dup',
          input,
          steps: (step) => [step({ name: 'a', ...withdraw }), step({ name: 'a', ...withdraw })],
        }),
      /"a" is used twice/,
    )
    invalid(() => defineSaga({ name: 'empty', input, steps: () => [] }), /at least one step/)
    invalid(
      () => defineSaga({ name: 'Bad Name', input, steps: (step) => [step({ name: 'a', ...withdraw })] }),
      /name must/,
    )
    invalid(() => defineSaga({ name: 'x', input, steps: (step) => [step({ name: '1a', ...withdraw })] }), /step name/)
    invalid(
      () =>
        defineSaga({
          name: 'both',
          input,
          // Bypasses the types on purpose: the runtime check holds for plain JavaScript callers too.
          steps: (step) => [step({ name: 'a', ...withdraw, compensate: deposit, irreversible: true as false })],
        }),
      /irreversible and has a compensation/,
    )
  })

  it('rejects a step without an aggregate, a bad deadline and a trigger listed twice', () => {
    invalid(
      () =>
        defineSaga({
          name: 'noagg',
          input,
          steps: (step) => [step({ name: 'a', aggregate: {} as typeof Account, command: withdraw.command })],
        }),
      /needs an aggregate/,
    )
    invalid(
      () =>
        defineSaga({
          name: 'deadline',
          input,
          steps: (step) => [
            step({
              name: 'a',
              ...withdraw,
              awaits: awaitEvents({ success: [MoneyDeposited], sagaId: () => 'x', deadlineMs: 0 }),
            }),
          ],
        }),
      /deadlineMs must be a positive integer/,
    )
    const trigger = startOn(MoneyDeposited, { input: (e) => ({ id: e.eventId, account: e.data.accountId }) })
    invalid(
      () =>
        defineSaga({
          name: 'trig',
          input,
          startedBy: [trigger, trigger],
          steps: (step) => [step({ name: 'a', ...withdraw })],
        }),
      /startedBy lists "MoneyDeposited" twice/,
    )
  })
})

describe('defineReactor', () => {
  it('validates its name and handled types', () => {
    invalid(() => defineReactor({ name: 'Bad', handles: [MoneyDeposited], react: () => {} }), /reactor name/)
    invalid(() => defineReactor({ name: 'none', handles: [], react: () => {} }), /at least one event type/)
    invalid(
      () => defineReactor({ name: 'twice', handles: [MoneyDeposited, 'MoneyDeposited'], react: () => {} }),
      /twice/,
    )
    expect(defineReactor({ name: 'ok', handles: [MoneyDeposited, 'Other'], react: () => {} }).handles).toEqual([
      'MoneyDeposited',
      'Other',
    ])
  })
})
