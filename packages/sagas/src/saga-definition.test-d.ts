import type { AggregateCommandInputOf, RecordedEvent } from '@annals/core'
import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { Account, Mailbox, MoneyDeposited, PayoutConfirmed, PayoutRejected } from '../examples/bank-transfer.js'
import type { SagaEngine } from './engine/saga-engine-types.js'
import { defineReactor } from './reactor.js'
import { awaitEvents, defineSaga, type SagaInputOf, startOn } from './saga-definition.js'

const input = z.object({ transferId: z.string(), from: z.string(), amount: z.number() })

describe('typed steps', () => {
  it('accepts commands of the step aggregate and sees the validated input', () => {
    defineSaga({
      name: 'ok',
      input,
      steps: (step) => [
        step({
          name: 'debit',
          aggregate: Account,
          command: ({ input, sagaId }) => {
            expectTypeOf(input).toEqualTypeOf<{ transferId: string; from: string; amount: number }>()
            expectTypeOf(sagaId).toEqualTypeOf<string>()
            return { type: 'Withdraw', data: { accountId: input.from, amount: input.amount } }
          },
          compensate: ({ input }) => ({ type: 'Deposit', data: { accountId: input.from, amount: input.amount } }),
        }),
      ],
    })
  })

  it('rejects a wrong command shape at compile time', () => {
    defineSaga({
      name: 'bad',
      input,
      steps: (step) => [
        step({
          name: 'wrong-data',
          aggregate: Account,
          // @ts-expect-error amount must be a number
          command: ({ input }) => ({ type: 'Withdraw', data: { accountId: input.from, amount: 'ten' } }),
        }),
        step({
          name: 'missing-field',
          aggregate: Account,
          // @ts-expect-error accountId is required
          command: ({ input }) => ({ type: 'Withdraw', data: { amount: input.amount } }),
        }),
        step({
          name: 'unknown-type',
          aggregate: Account,
          // @ts-expect-error the account has no command "Teleport"
          command: ({ input }) => ({ type: 'Teleport', data: { accountId: input.from, amount: 1 } }),
        }),
        step({
          name: 'other-aggregate',
          aggregate: Account,
          command: ({ input }) => ({ type: 'Withdraw', data: { accountId: input.from, amount: 1 } }),
          // @ts-expect-error SendReceipt is the mailbox's command, not the account's
          compensate: () => ({ type: 'SendReceipt', data: { mailbox: 'm', transferId: 't' } }),
        }),
        step({
          name: 'unknown-input',
          aggregate: Mailbox,
          // @ts-expect-error the input has no "mailbox"
          command: ({ input }) => ({ type: 'SendReceipt', data: { mailbox: input.mailbox, transferId: 't' } }),
        }),
      ],
    })
  })

  it('types what a step returns as the aggregate command input', () => {
    type AccountCommand = AggregateCommandInputOf<typeof Account>
    expectTypeOf<Extract<AccountCommand, { type: 'Withdraw' }>['data']>().toEqualTypeOf<{
      accountId: string
      amount: number
    }>()
  })
})

describe('typed events', () => {
  it('types awaited events and triggers by their definitions', () => {
    awaitEvents({
      success: [PayoutConfirmed],
      failure: [PayoutRejected],
      sagaId: (event) => {
        expectTypeOf(event.type).toEqualTypeOf<'PayoutConfirmed' | 'PayoutRejected'>()
        expectTypeOf(event.data).toEqualTypeOf<{ payoutId: string }>()
        return event.data.payoutId
      },
    })
    startOn(MoneyDeposited, {
      input: (event) => {
        expectTypeOf(event).toEqualTypeOf<
          RecordedEvent<import('@annals/core').Event<'MoneyDeposited', { accountId: string; amount: number }>>
        >()
        // @ts-expect-error MoneyDeposited has no "currency"
        event.data.currency
        return { transferId: event.eventId, from: event.data.accountId, amount: event.data.amount }
      },
    })
  })

  it('types start input and reactor commands', () => {
    const saga = defineSaga({
      name: 's',
      input,
      steps: (step) => [
        step({ name: 'a', aggregate: Mailbox, command: () => ({ type: 'BlockMailbox', data: { mailbox: 'm' } }) }),
      ],
    })
    expectTypeOf<SagaInputOf<typeof saga>>().toEqualTypeOf<{ transferId: string; from: string; amount: number }>()
    const engine = {} as SagaEngine
    // @ts-expect-error amount must be a number
    void engine.start(saga, { transferId: 't', from: 'a', amount: '1' })
    defineReactor({
      name: 'r',
      handles: [MoneyDeposited],
      async react(event, { send }) {
        await send(Account, { type: 'Deposit', data: { accountId: event.data.accountId, amount: event.data.amount } })
        // @ts-expect-error Deposit needs an amount
        await send(Account, { type: 'Deposit', data: { accountId: event.data.accountId } })
      },
    })
  })
})
