// A bank transfer as an orchestrated saga, with a tiny account aggregate of its own. The saga is
// nothing but its steps: debit the source, credit the target; when the credit is refused (closed
// target, other currency) the debit is compensated by a refund. apps/bank-demo has the real account;
// its transfer saga is written the same way against it.
import { DomainError, defineAggregate, defineCommand, defineEvent } from '@annals/core'
import { z } from 'zod'
import { awaitEvents, defineSaga, type StepFactory } from '../src/saga-definition.js'

export const AccountOpened = defineEvent('AccountOpened', z.object({ accountId: z.string(), currency: z.string() }))
export const MoneyDeposited = defineEvent(
  'MoneyDeposited',
  z.object({ accountId: z.string(), amount: z.number().int().positive() }),
)
export const MoneyWithdrawn = defineEvent(
  'MoneyWithdrawn',
  z.object({ accountId: z.string(), amount: z.number().int().positive() }),
)
export const AccountClosed = defineEvent('AccountClosed', z.object({ accountId: z.string() }))

export const OpenAccount = defineCommand('OpenAccount', z.object({ accountId: z.string(), currency: z.string() }))
/** `currency`, when given, must be the account's. */
export const Deposit = defineCommand(
  'Deposit',
  z.object({ accountId: z.string(), amount: z.number().int().positive(), currency: z.string().optional() }),
)
export const Withdraw = defineCommand(
  'Withdraw',
  z.object({ accountId: z.string(), amount: z.number().int().positive() }),
)
export const CloseAccount = defineCommand('CloseAccount', z.object({ accountId: z.string() }))

export type AccountState =
  | Readonly<{ status: 'none' }>
  | Readonly<{ status: 'open' | 'closed'; currency: string; balance: number }>

export const Account = defineAggregate({
  name: 'account',
  events: [AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed],
  commands: [OpenAccount, Deposit, Withdraw, CloseAccount],
  initialState: (): AccountState => ({ status: 'none' }),
  evolve: (state, event): AccountState => {
    switch (event.type) {
      case 'AccountOpened':
        return { status: 'open', currency: event.data.currency, balance: 0 }
      case 'MoneyDeposited':
        return state.status === 'none' ? state : { ...state, balance: state.balance + event.data.amount }
      case 'MoneyWithdrawn':
        return state.status === 'none' ? state : { ...state, balance: state.balance - event.data.amount }
      case 'AccountClosed':
        return state.status === 'none' ? state : { ...state, status: 'closed' }
    }
  },
  decide: (command, state) => {
    if (command.type === 'OpenAccount') {
      if (state.status !== 'none') throw new DomainError('BANK_ACCOUNT_EXISTS', 'account exists')
      return AccountOpened.create(command.data)
    }
    if (state.status === 'none') throw new DomainError('BANK_ACCOUNT_NOT_FOUND', 'no such account')
    if (state.status === 'closed') throw new DomainError('BANK_ACCOUNT_CLOSED', 'account closed')
    const { accountId } = command.data
    switch (command.type) {
      case 'Deposit':
        if (command.data.currency !== undefined && command.data.currency !== state.currency) {
          throw new DomainError('BANK_CURRENCY_MISMATCH', `account holds ${state.currency}`)
        }
        return MoneyDeposited.create({ accountId, amount: command.data.amount })
      case 'Withdraw':
        if (command.data.amount > state.balance) throw new DomainError('BANK_INSUFFICIENT_FUNDS', 'insufficient funds')
        return MoneyWithdrawn.create({ accountId, amount: command.data.amount })
      case 'CloseAccount':
        return AccountClosed.create({ accountId })
    }
  },
  streamId: (command) => `account-${command.data.accountId}`,
})

export const TransferInput = z.object({
  transferId: z.string().min(1),
  from: z.string(),
  to: z.string(),
  amount: z.number().int().positive(),
  currency: z.string(),
})

type Transfer = z.infer<typeof TransferInput>

/** Debits the source account; undone by depositing the amount back. */
const debitSource = <I extends Readonly<{ from: string; amount: number }>>(step: StepFactory<I>) =>
  step({
    name: 'debit-source',
    aggregate: Account,
    command: ({ input }) => ({ type: 'Withdraw', data: { accountId: input.from, amount: input.amount } }),
    compensate: ({ input }) => ({ type: 'Deposit', data: { accountId: input.from, amount: input.amount } }),
  })

/** Credits the target account in the transfer's currency; `reversible` adds the debit that undoes it. */
const creditTarget = <I extends Transfer>(step: StepFactory<I>, reversible: boolean) =>
  step({
    name: 'credit-target',
    aggregate: Account,
    command: ({ input }) => ({
      type: 'Deposit',
      data: { accountId: input.to, amount: input.amount, currency: input.currency },
    }),
    ...(reversible
      ? {
          compensate: ({ input }: { input: I }) => ({
            type: 'Withdraw' as const,
            data: { accountId: input.to, amount: input.amount },
          }),
        }
      : {}),
  })

/** A transfer's two steps: debit the source (undone by a deposit back), then credit the target. */
export const transferSteps = (step: StepFactory<Transfer>) => [debitSource(step), creditTarget(step, false)]

/** The bank transfer: two steps, one compensation. Nothing else is written for it. */
export const bankTransfer = defineSaga({
  name: 'bank-transfer',
  input: TransferInput,
  sagaId: (input) => input.transferId,
  steps: transferSteps,
})

// ---- a third, irreversible step (for the crash and reverse-order tests) -------------------------

export const ReceiptSent = defineEvent('ReceiptSent', z.object({ mailbox: z.string(), transferId: z.string() }))
export const MailboxBlocked = defineEvent('MailboxBlocked', z.object({ mailbox: z.string() }))
export const SendReceipt = defineCommand('SendReceipt', z.object({ mailbox: z.string(), transferId: z.string() }))
export const BlockMailbox = defineCommand('BlockMailbox', z.object({ mailbox: z.string() }))

/** Sending a receipt cannot be undone; a blocked mailbox refuses it. */
export const Mailbox = defineAggregate({
  name: 'mailbox',
  events: [ReceiptSent, MailboxBlocked],
  commands: [SendReceipt, BlockMailbox],
  initialState: () => ({ blocked: false, sent: 0 }),
  evolve: (state, event) =>
    event.type === 'MailboxBlocked' ? { ...state, blocked: true } : { ...state, sent: state.sent + 1 },
  decide: (command, state) => {
    if (command.type === 'BlockMailbox') return MailboxBlocked.create(command.data)
    if (state.blocked) throw new DomainError('MAILBOX_BLOCKED', `mailbox ${command.data.mailbox} is blocked`)
    return ReceiptSent.create(command.data)
  },
  streamId: (command) => `mailbox-${command.data.mailbox}`,
})

/** Debit, credit (undone by a debit of the target), then an irreversible receipt, ordered last. */
export const transferWithReceipt = defineSaga({
  name: 'transfer-with-receipt',
  input: TransferInput.extend({ mailbox: z.string() }),
  sagaId: (input) => input.transferId,
  steps: (step) => [
    debitSource(step),
    creditTarget(step, true),
    step({
      name: 'send-receipt',
      aggregate: Mailbox,
      irreversible: true,
      command: ({ input }) => ({ type: 'SendReceipt', data: { mailbox: input.mailbox, transferId: input.transferId } }),
    }),
  ],
})

// ---- a step confirmed by events, with a deadline (for the timeout test) -------------------------

export const PayoutRequested = defineEvent('PayoutRequested', z.object({ payoutId: z.string(), amount: z.number() }))
export const PayoutConfirmed = defineEvent('PayoutConfirmed', z.object({ payoutId: z.string() }))
export const PayoutRejected = defineEvent('PayoutRejected', z.object({ payoutId: z.string() }))
export const PayoutCancelled = defineEvent('PayoutCancelled', z.object({ payoutId: z.string() }))
export const RequestPayout = defineCommand('RequestPayout', z.object({ payoutId: z.string(), amount: z.number() }))
export const ConfirmPayout = defineCommand('ConfirmPayout', z.object({ payoutId: z.string() }))
export const RejectPayout = defineCommand('RejectPayout', z.object({ payoutId: z.string() }))
export const CancelPayout = defineCommand('CancelPayout', z.object({ payoutId: z.string() }))

type PayoutState = Readonly<{ status: 'none' | 'requested' | 'confirmed' | 'rejected' | 'cancelled' }>

/** A payout to an outside bank: requested now, confirmed (or rejected) later by the gateway. */
export const Payout = defineAggregate({
  name: 'payout',
  events: [PayoutRequested, PayoutConfirmed, PayoutRejected, PayoutCancelled],
  commands: [RequestPayout, ConfirmPayout, RejectPayout, CancelPayout],
  initialState: (): PayoutState => ({ status: 'none' }),
  evolve: (_state, event): PayoutState => {
    switch (event.type) {
      case 'PayoutRequested':
        return { status: 'requested' }
      case 'PayoutConfirmed':
        return { status: 'confirmed' }
      case 'PayoutRejected':
        return { status: 'rejected' }
      case 'PayoutCancelled':
        return { status: 'cancelled' }
    }
  },
  decide: (command, state) => {
    switch (command.type) {
      case 'RequestPayout':
        if (state.status !== 'none') throw new DomainError('PAYOUT_EXISTS', 'payout exists')
        return PayoutRequested.create(command.data)
      case 'CancelPayout':
        // Nothing to cancel when the request never got through: the compensation is then a no-op.
        return state.status === 'requested' ? PayoutCancelled.create(command.data) : []
      default:
        if (state.status !== 'requested') throw new DomainError('PAYOUT_NOT_PENDING', `payout is ${state.status}`)
        return command.type === 'ConfirmPayout'
          ? PayoutConfirmed.create(command.data)
          : PayoutRejected.create(command.data)
    }
  },
  streamId: (command) => `payout-${command.data.payoutId}`,
})

/** Debit the account, then pay out through a gateway that must confirm within `deadlineMs`. */
export const externalPayout = (deadlineMs: number) =>
  defineSaga({
    name: 'external-payout',
    input: z.object({ payoutId: z.string(), from: z.string(), amount: z.number().int().positive() }),
    sagaId: (input) => input.payoutId,
    steps: (step) => [
      debitSource(step),
      step({
        name: 'pay-out',
        aggregate: Payout,
        command: ({ input }) => ({ type: 'RequestPayout', data: { payoutId: input.payoutId, amount: input.amount } }),
        compensate: ({ input }) => ({ type: 'CancelPayout', data: { payoutId: input.payoutId } }),
        awaits: awaitEvents({
          success: [PayoutConfirmed],
          failure: [PayoutRejected],
          sagaId: (event) => event.data.payoutId,
          deadlineMs,
        }),
      }),
    ],
  })
