import { z } from 'zod'
import { defineAggregate } from '../aggregate.js'
import { defineCommand } from '../command.js'
import { DomainError } from '../errors.js'
import { defineEvent } from '../event-definition.js'
import { everyNEvents, type SnapshotPolicy } from '../snapshot-policy.js'

// v1 stored whole units, v2 switched to cents, v3 added the currency.
export const MoneyDeposited = defineEvent('MoneyDeposited', z.object({ amount: z.number().int().positive() }))
  .upcast(z.object({ cents: z.number().int().positive() }), (v1) => ({ cents: v1.amount * 100 }))
  .upcast(z.object({ cents: z.number().int().positive(), currency: z.string().length(3) }), (v2) => ({
    ...v2,
    currency: 'EUR',
  }))
export const AccountOpened = defineEvent('AccountOpened', z.object({ accountId: z.string(), owner: z.string() }))
export const MoneyWithdrawn = defineEvent('MoneyWithdrawn', z.object({ cents: z.number().int().positive() }))
export const AccountClosed = defineEvent('AccountClosed', z.object({}))

export const OpenAccount = defineCommand('OpenAccount', z.object({ accountId: z.string(), owner: z.string().min(1) }))
export const Deposit = defineCommand(
  'Deposit',
  z.object({
    accountId: z.string(),
    cents: z.number().int().positive(),
    currency: z.string().length(3).default('EUR'),
  }),
)
export const Withdraw = defineCommand(
  'Withdraw',
  z.object({ accountId: z.string(), cents: z.number().int().positive() }),
)
export const CloseAccount = defineCommand('CloseAccount', z.object({ accountId: z.string() }))

/** Balance is a bigint so that snapshots need serializeState/deserializeState. */
export type Account =
  | { status: 'none' }
  | { status: 'open'; owner: string; balance: bigint; movements: number }
  | { status: 'closed'; owner: string }

type SerializedAccount =
  | { status: 'none' }
  | { status: 'open'; owner: string; balance: string; movements: number }
  | {
      status: 'closed'
      owner: string
    }

/** Builds the account aggregate with a chosen snapshot policy and state version. */
export function accountAggregate(options: { snapshot?: SnapshotPolicy<Account>; stateVersion?: number } = {}) {
  return defineAggregate({
    name: 'account',
    events: [AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed],
    commands: [OpenAccount, Deposit, Withdraw, CloseAccount],
    initialState: (): Account => ({ status: 'none' }),
    evolve: (state, event): Account => {
      switch (event.type) {
        case 'AccountOpened':
          return { status: 'open', owner: event.data.owner, balance: 0n, movements: 0 }
        case 'MoneyDeposited':
          return state.status === 'open'
            ? { ...state, balance: state.balance + BigInt(event.data.cents), movements: state.movements + 1 }
            : state
        case 'MoneyWithdrawn':
          return state.status === 'open'
            ? { ...state, balance: state.balance - BigInt(event.data.cents), movements: state.movements + 1 }
            : state
        case 'AccountClosed':
          return state.status === 'open' ? { status: 'closed', owner: state.owner } : state
      }
    },
    decide: (command, state) => {
      switch (command.type) {
        case 'OpenAccount':
          if (state.status !== 'none') throw new DomainError('ACCOUNT_ALREADY_OPENED', 'account exists')
          return AccountOpened.create({ accountId: command.data.accountId, owner: command.data.owner })
        case 'Deposit':
          if (state.status !== 'open') throw new DomainError('ACCOUNT_NOT_OPEN', 'account is not open')
          return [MoneyDeposited.create({ cents: command.data.cents, currency: command.data.currency })]
        case 'Withdraw':
          if (state.status !== 'open') throw new DomainError('ACCOUNT_NOT_OPEN', 'account is not open')
          if (state.balance < BigInt(command.data.cents)) {
            throw new DomainError('INSUFFICIENT_FUNDS', 'not enough money', { balance: state.balance.toString() })
          }
          return [{ type: 'MoneyWithdrawn', data: { cents: command.data.cents } }]
        case 'CloseAccount':
          if (state.status === 'closed') return []
          if (state.status !== 'open') throw new DomainError('ACCOUNT_NOT_OPEN', 'account is not open')
          if (state.balance !== 0n) throw new DomainError('ACCOUNT_NOT_EMPTY', 'withdraw everything first')
          return [{ type: 'AccountClosed', data: {} }]
      }
    },
    streamId: (command) => `account-${command.data.accountId}`,
    stateVersion: options.stateVersion ?? 1,
    snapshot: options.snapshot ?? everyNEvents(3),
    serializeState: (state): SerializedAccount =>
      state.status === 'open' ? { ...state, balance: state.balance.toString() } : state,
    deserializeState: (raw) => {
      const s = raw as SerializedAccount
      return s.status === 'open' ? { ...s, balance: BigInt(s.balance) } : s
    },
  })
}

export const Account = accountAggregate()
