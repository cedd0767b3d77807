import {
  type AggregateCommandInputOf,
  type AggregateCommandOf,
  type AsOf,
  type CommandHandler,
  createCommandHandler,
  DomainError,
  type EventStore,
  loadAggregate,
  type SnapshotStore,
} from '@annals/core'
import { type Account, type AccountEvent, accountStream, BankAccount, BankErrorCodes } from './account.js'

/** The account's balance at one point of its history (time travel). */
export type BalanceAt = Readonly<{
  accountId: string
  /** `none` when the account did not exist yet at that point. */
  status: Account['status']
  balance: number
  currency: string | null
  /** Stream version of the last event at or before the point. */
  version: string
  /** When the last event at or before the point was recorded (null before the first). */
  lastEventAt: string | null
  /** Stream version of the snapshot the fold started from (null: from the first event). */
  snapshotVersion: string | null
  eventsFolded: number
}>

/** One line of an account's history with the balance after it. */
export type HistoryEntry = Readonly<{
  version: string
  eventId: string
  type: AccountEvent['type']
  recordedAt: string
  /** Signed change of the balance (0 for opening and closing). */
  change: number
  balance: number
  description: string | null
  transferId: string | null
}>

/** The write side of accounts plus the two reads that go to the event store. */
export interface AccountService {
  readonly handler: CommandHandler<
    Account,
    AggregateCommandOf<typeof BankAccount>,
    AccountEvent,
    AggregateCommandInputOf<typeof BankAccount>
  >
  /** The balance as of a time or a version, folded from the nearest snapshot. Throws BANK_ACCOUNT_NOT_FOUND. */
  balanceAt(accountId: string, asOf: AsOf | undefined): Promise<BalanceAt>
  /** Every event of the account with its time and running balance. Throws BANK_ACCOUNT_NOT_FOUND. */
  history(accountId: string): Promise<{ accountId: string; currency: string; entries: HistoryEntry[] }>
}

/** Creates the account service over an event store (and optionally a snapshot store). */
export function createAccountService(stores: { store: EventStore; snapshots?: SnapshotStore }): AccountService {
  // Transfers race with deposits on the same accounts: give conflicts room to resolve before a 409.
  const handler = createCommandHandler(BankAccount, { ...stores, retry: { maxAttempts: 20, maxDelayMs: 100 } })

  async function currencyOf(accountId: string): Promise<string> {
    const read = await stores.store.readStream(accountStream(accountId), { limit: 1 })
    const first = read.events[0]
    if (!first) {
      throw new DomainError(BankErrorCodes.ACCOUNT_NOT_FOUND, `Account ${accountId} does not exist`, { accountId })
    }
    const opened = BankAccount.events.decode(first)
    return opened.type === 'AccountOpened' ? opened.data.currency : ''
  }

  return {
    handler,
    async balanceAt(accountId, asOf) {
      const loaded = await loadAggregate(BankAccount, stores, accountStream(accountId), asOf ? { asOf } : undefined)
      const state = loaded.state
      // Only a point before the opening folds nothing: then (and only then) ask whether the account exists at all.
      const currency = state.status === 'none' ? await currencyOf(accountId) : state.currency
      return {
        accountId,
        status: state.status,
        balance: state.status === 'none' ? 0 : state.balance,
        currency,
        version: loaded.version.toString(),
        lastEventAt: loaded.lastEvent?.recordedAt.toISOString() ?? null,
        snapshotVersion: loaded.snapshotVersion?.toString() ?? null,
        eventsFolded: loaded.eventsFolded,
      }
    },
    async history(accountId) {
      const read = await stores.store.readStream(accountStream(accountId))
      if (read.events.length === 0)
        throw new DomainError(BankErrorCodes.ACCOUNT_NOT_FOUND, `Account ${accountId} does not exist`, { accountId })
      let balance = 0
      let currency = ''
      const entries = read.events.map((raw) => {
        const event = BankAccount.events.decode(raw)
        let change = 0
        let description: string | null = null
        let transferId: string | null = null
        if (event.type === 'AccountOpened') currency = event.data.currency
        if (event.type === 'MoneyDeposited' || event.type === 'MoneyWithdrawn') {
          change = event.type === 'MoneyDeposited' ? event.data.amount : -event.data.amount
          description = event.data.description ?? null
          transferId = event.data.transferId ?? null
        }
        balance += change
        return {
          version: event.streamVersion.toString(),
          eventId: event.eventId,
          type: event.type,
          recordedAt: event.recordedAt.toISOString(),
          change,
          balance,
          description,
          transferId,
        }
      })
      return { accountId, currency, entries }
    },
  }
}
