import {
  type AggregateEventOf,
  DomainError,
  defineAggregate,
  defineCommand,
  defineEvent,
  everyNEvents,
  type StreamId,
} from '@annals/core'
import { z } from 'zod'

/** An amount of money in minor units (cents): a positive safe integer, never a float. */
export const Amount = z
  .number()
  .int('must be an integer number of minor units')
  .positive('must be positive')
  .max(Number.MAX_SAFE_INTEGER, 'must be at most 2^53 - 1')

/** An ISO 4217 currency code. */
export const Currency = z.string().regex(/^[A-Z]{3}$/, 'must be a three-letter ISO 4217 code such as EUR')

// Control characters (NUL included) have no place in a name and break logs and terminals.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/

/** A human-readable text (owner name, description): trimmed, bounded, no control characters. */
export const Text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((value) => !CONTROL.test(value), 'must not contain control characters')

/** Identifies a transfer (saga) in the metadata-free way events carry it. */
const TransferRef = z.string().uuid().optional()

/** The account was opened. */
export const AccountOpened = defineEvent(
  'AccountOpened',
  z.object({
    accountId: z.string().uuid(),
    owner: z.string(),
    currency: Currency,
    /** How far below zero the balance may go (minor units). */
    overdraftLimit: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  }),
)

/** Money was paid in (a deposit, a transfer credit, or a refund of a failed transfer). */
export const MoneyDeposited = defineEvent(
  'MoneyDeposited',
  z.object({
    accountId: z.string().uuid(),
    amount: Amount,
    description: z.string().optional(),
    transferId: TransferRef,
  }),
)

/** Money was paid out (a withdrawal or a transfer debit). */
export const MoneyWithdrawn = defineEvent(
  'MoneyWithdrawn',
  z.object({
    accountId: z.string().uuid(),
    amount: Amount,
    description: z.string().optional(),
    transferId: TransferRef,
  }),
)

/** The account was closed (at zero balance); it accepts no more money. */
export const AccountClosed = defineEvent('AccountClosed', z.object({ accountId: z.string().uuid() }))

/** Opens an account. */
export const OpenAccount = defineCommand(
  'OpenAccount',
  z.object({
    accountId: z.string().uuid(),
    owner: Text(200),
    currency: Currency,
    overdraftLimit: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(0),
  }),
)

/** Pays money in. `currency`, when given, must match the account's (transfers pass it). */
export const DepositMoney = defineCommand(
  'DepositMoney',
  z.object({
    accountId: z.string().uuid(),
    amount: Amount,
    currency: Currency.optional(),
    description: Text(500).optional(),
    transferId: TransferRef,
  }),
)

/** Pays money out, within the balance plus the overdraft limit. */
export const WithdrawMoney = defineCommand(
  'WithdrawMoney',
  z.object({
    accountId: z.string().uuid(),
    amount: Amount,
    description: Text(500).optional(),
    transferId: TransferRef,
  }),
)

/** Closes an account whose balance is zero. */
export const CloseAccount = defineCommand('CloseAccount', z.object({ accountId: z.string().uuid() }))

/** The state of one account. */
export type Account =
  | Readonly<{ status: 'none' }>
  | Readonly<{
      status: 'open' | 'closed'
      accountId: string
      owner: string
      currency: string
      balance: number
      overdraftLimit: number
    }>

/** The business-rule codes the account raises (mapped to HTTP statuses in `http/error-handler.ts`). */
export const BankErrorCodes = {
  ACCOUNT_NOT_FOUND: 'BANK_ACCOUNT_NOT_FOUND',
  ACCOUNT_EXISTS: 'BANK_ACCOUNT_EXISTS',
  ACCOUNT_CLOSED: 'BANK_ACCOUNT_CLOSED',
  INSUFFICIENT_FUNDS: 'BANK_INSUFFICIENT_FUNDS',
  CURRENCY_MISMATCH: 'BANK_CURRENCY_MISMATCH',
  BALANCE_NOT_ZERO: 'BANK_BALANCE_NOT_ZERO',
  BALANCE_OVERFLOW: 'BANK_BALANCE_OVERFLOW',
  SAME_ACCOUNT: 'BANK_SAME_ACCOUNT',
} as const

/** Union of the bank's domain error codes. */
export type BankErrorCode = (typeof BankErrorCodes)[keyof typeof BankErrorCodes]

/** The stream of an account. */
export const accountStream = (accountId: string): StreamId => `account-${accountId}`

function openAccountOf(state: Account, accountId: string) {
  if (state.status === 'none') {
    throw new DomainError(BankErrorCodes.ACCOUNT_NOT_FOUND, `Account ${accountId} does not exist`, { accountId })
  }
  if (state.status === 'closed') {
    throw new DomainError(BankErrorCodes.ACCOUNT_CLOSED, `Account ${accountId} is closed`, { accountId })
  }
  return state
}

/** The bank account aggregate: open, deposit, withdraw (within an overdraft limit), close at zero. */
export const BankAccount = defineAggregate({
  name: 'bank-account',
  events: [AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed],
  commands: [OpenAccount, DepositMoney, WithdrawMoney, CloseAccount],
  initialState: (): Account => ({ status: 'none' }),
  evolve: (state, event): Account => {
    switch (event.type) {
      case 'AccountOpened':
        return { status: 'open', balance: 0, ...event.data }
      case 'MoneyDeposited':
        return state.status === 'none' ? state : { ...state, balance: state.balance + event.data.amount }
      case 'MoneyWithdrawn':
        return state.status === 'none' ? state : { ...state, balance: state.balance - event.data.amount }
      case 'AccountClosed':
        return state.status === 'none' ? state : { ...state, status: 'closed' }
    }
  },
  decide: (command, state) => {
    switch (command.type) {
      case 'OpenAccount': {
        if (state.status !== 'none') {
          throw new DomainError(BankErrorCodes.ACCOUNT_EXISTS, `Account ${command.data.accountId} already exists`)
        }
        return AccountOpened.create(command.data)
      }
      case 'DepositMoney': {
        const { accountId, amount, currency, description, transferId } = command.data
        const account = openAccountOf(state, accountId)
        if (currency !== undefined && currency !== account.currency) {
          throw new DomainError(
            BankErrorCodes.CURRENCY_MISMATCH,
            `Account ${accountId} holds ${account.currency}, not ${currency}`,
            { accountId, expected: account.currency, actual: currency },
          )
        }
        if (account.balance + amount > Number.MAX_SAFE_INTEGER) {
          throw new DomainError(BankErrorCodes.BALANCE_OVERFLOW, `The balance of ${accountId} would exceed 2^53 - 1`)
        }
        return MoneyDeposited.create({ accountId, amount, description, transferId })
      }
      case 'WithdrawMoney': {
        const { accountId, amount, description, transferId } = command.data
        const account = openAccountOf(state, accountId)
        if (account.balance - amount < -account.overdraftLimit) {
          throw new DomainError(
            BankErrorCodes.INSUFFICIENT_FUNDS,
            `Account ${accountId} cannot pay ${amount}: balance ${account.balance}, overdraft limit ${account.overdraftLimit}`,
            { accountId, balance: account.balance, overdraftLimit: account.overdraftLimit, amount },
          )
        }
        return MoneyWithdrawn.create({ accountId, amount, description, transferId })
      }
      case 'CloseAccount': {
        const account = openAccountOf(state, command.data.accountId)
        if (account.balance !== 0) {
          throw new DomainError(
            BankErrorCodes.BALANCE_NOT_ZERO,
            `Account ${command.data.accountId} can only be closed at zero balance (balance ${account.balance})`,
          )
        }
        return AccountClosed.create({ accountId: command.data.accountId })
      }
    }
  },
  streamId: (command) => accountStream(command.data.accountId),
  // Snapshots every 10 events keep time travel short on long histories.
  snapshot: everyNEvents(10),
})

/** An event of the account (latest shapes). */
export type AccountEvent = AggregateEventOf<typeof BankAccount>
