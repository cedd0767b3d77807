import { type Command, deterministicId, type EventStore, isDomainError, type SnapshotStore } from '@annals/core'
import {
  type Account,
  type AccountEvent,
  accountStream,
  BankAccount,
  CloseAccount,
  DepositMoney,
  OpenAccount,
  WithdrawMoney,
} from './accounts/account.js'
import type { AccountService } from './accounts/account-service.js'
import type { Transfers, TransferView } from './transfers/transfers.js'

/** A seeded account. */
export type SeededAccount = Readonly<{ owner: string; accountId: string; currency: string }>

/** What {@link seedBank} did. */
export type SeedResult = Readonly<{
  /** False when the accounts were already there (a second run on the same database). */
  seeded: boolean
  accounts: readonly SeededAccount[]
  /** The account the terminal walk-through and the page show first. */
  showcase: SeededAccount
  /** Events imported with their historical time. */
  imported: number
  from: Date
  to: Date
  /** Transfers run live through the saga at the end of the seed. */
  liveTransfers: readonly TransferView[]
}>

const DAY = 86_400_000
const SNAPSHOT_EVERY = 10n

const PEOPLE = [
  { owner: 'Ada Lovelace', currency: 'EUR', overdraftLimit: 20_000 },
  { owner: 'Grace Hopper', currency: 'EUR', overdraftLimit: 0 },
  { owner: 'Alan Turing', currency: 'EUR', overdraftLimit: 5_000 },
  { owner: 'Kurt Gödel', currency: 'USD', overdraftLimit: 0 },
  { owner: 'Emmy Noether', currency: 'EUR', overdraftLimit: 0 },
] as const

const SPENDING = ['Groceries', 'Coffee', 'Train ticket', 'Book shop', 'Pharmacy', 'Cinema', 'Bakery', 'Hardware store']

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence, so the same history. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The deterministic id of a seeded account (so a second run finds the first run's accounts). */
export const seededAccountId = (owner: string) => deterministicId(`bank-demo-seed\u0000${owner}`)

/**
 * Seeds the bank with accounts whose history spreads over `days` simulated days, imported through
 * `importToStream` with each event's historical `recordedAt` (the clock is never faked): deposits,
 * withdrawals, transfers between accounts and one transfer to a closed account that is refunded.
 * Then runs two transfers live through the transfer saga: one completes, one is compensated.
 * Every imported event is first decided by the account aggregate, so the history obeys its rules.
 */
export async function seedBank(
  deps: Readonly<{ store: EventStore; snapshots?: SnapshotStore; accounts: AccountService; transfers: Transfers }>,
  options: Readonly<{ days?: number; now?: Date; seed?: number }> = {},
): Promise<SeedResult> {
  const days = options.days ?? 14
  const now = options.now ?? new Date()
  const random = prng(options.seed ?? 42)
  const from = new Date(Math.floor((now.getTime() - days * DAY) / 3_600_000) * 3_600_000)
  const accounts: SeededAccount[] = PEOPLE.map((p) => ({
    owner: p.owner,
    currency: p.currency,
    accountId: seededAccountId(p.owner),
  }))
  const showcase = accounts[0] as SeededAccount
  const byOwner = new Map<string, SeededAccount>(accounts.map((a) => [a.owner, a]))
  const idOf = (owner: string) => (byOwner.get(owner) as SeededAccount).accountId

  const existing = await deps.store.readStream(accountStream(showcase.accountId), { limit: 1 })
  if (existing.streamExists) {
    return { seeded: false, accounts, showcase, imported: 0, from, to: now, liveTransfers: [] }
  }

  const states = new Map<string, { state: Account; version: bigint; lastAt: number }>()
  let imported = 0

  /** Decides a command on the account's current state and imports the events at `at`. */
  async function importCommand(command: Command, at: Date, correlationId: string): Promise<void> {
    const parsed = BankAccount.commands.parse(command)
    const accountId = (parsed.data as { accountId: string }).accountId
    const current = states.get(accountId) ?? { state: BankAccount.initialState(), version: 0n, lastAt: 0 }
    // Keep each stream's times in order even when the day's schedule puts two events close together.
    const recordedAt = new Date(Math.max(at.getTime(), current.lastAt + 1_000))
    const decided = BankAccount.decide(parsed, current.state)
    const events = (Array.isArray(decided) ? decided : [decided]) as readonly AccountEvent[]
    const result = await deps.store.importToStream(
      accountStream(accountId),
      events.map((event) => ({
        ...BankAccount.events.encode({ type: event.type, data: event.data } as AccountEvent),
        recordedAt,
        metadata: { correlationId, seeded: true },
      })),
      { expectedVersion: current.version === 0n ? 'no-stream' : current.version },
    )
    let state = current.state
    for (const event of events) state = BankAccount.evolve(state, event)
    const last = result.events[result.events.length - 1]
    // Imported history gets the snapshots the command handler would have written, so time travel
    // into the seeded past starts from the nearest one.
    if (deps.snapshots && last && last.streamVersion % SNAPSHOT_EVERY === 0n) {
      await deps.snapshots.save({
        streamId: last.streamId,
        streamVersion: last.streamVersion,
        globalPosition: last.globalPosition,
        recordedAt: last.recordedAt,
        stateVersion: BankAccount.stateVersion,
        state: BankAccount.serializeState(state),
      })
    }
    states.set(accountId, { state, version: current.version + BigInt(events.length), lastAt: recordedAt.getTime() })
    imported += events.length
  }

  const balanceOf = (owner: string) => {
    const s = states.get(idOf(owner))?.state
    return s && s.status !== 'none' ? s.balance : 0
  }

  const tryImport = async (command: Command, at: Date, correlationId: string) => {
    try {
      await importCommand(command, at, correlationId)
      return true
    } catch (error) {
      if (isDomainError(error)) return false
      throw error
    }
  }

  /** A historical transfer: debit, credit, and a refund when the credit is refused. */
  async function importTransfer(fromOwner: string, toOwner: string, amount: number, at: Date, description: string) {
    const transferId = deterministicId(
      `bank-demo-seed-transfer\u0000${fromOwner}\u0000${toOwner}\u0000${at.toISOString()}`,
    )
    const source = byOwner.get(fromOwner) as SeededAccount
    const debited = await tryImport(
      WithdrawMoney.create({ accountId: source.accountId, amount, description, transferId }),
      at,
      transferId,
    )
    if (!debited) return
    const credited = await tryImport(
      DepositMoney.create({ accountId: idOf(toOwner), amount, currency: source.currency, description, transferId }),
      new Date(at.getTime() + 1_000),
      transferId,
    )
    if (!credited) {
      await importCommand(
        DepositMoney.create({ accountId: source.accountId, amount, description: `Refund: ${description}`, transferId }),
        new Date(at.getTime() + 2_000),
        transferId,
      )
    }
  }

  const at = (day: number, hour: number) =>
    new Date(from.getTime() + day * DAY + hour * 3_600_000 + Math.floor(random() * 50) * 60_000)

  for (const [i, p] of PEOPLE.entries()) {
    const accountId = idOf(p.owner)
    await importCommand(OpenAccount.create({ accountId, ...p }), at(0, 8 + i), accountId)
  }
  for (let day = 0; day < days; day++) {
    for (const p of PEOPLE) {
      const accountId = idOf(p.owner)
      if (states.get(accountId)?.state.status !== 'open') continue
      if (day % 7 === 0) {
        const salary = 180_000 + Math.floor(random() * 40) * 1_000
        await importCommand(
          DepositMoney.create({ accountId, amount: salary, description: 'Salary' }),
          at(day, 9),
          accountId,
        )
      }
      const purchases = 1 + Math.floor(random() * 3)
      for (let k = 0; k < purchases; k++) {
        const amount = 300 + Math.floor(random() * 9_000)
        const description = SPENDING[Math.floor(random() * SPENDING.length)] as string
        await tryImport(WithdrawMoney.create({ accountId, amount, description }), at(day, 11 + k * 3), accountId)
      }
      if (day % 7 === 3) {
        await tryImport(
          WithdrawMoney.create({ accountId, amount: 95_000, description: 'Rent' }),
          at(day, 10),
          accountId,
        )
      }
    }
    if (day === 2) await importTransfer('Grace Hopper', 'Ada Lovelace', 25_000, at(day, 20), 'Concert tickets')
    if (day === 4) await importTransfer('Ada Lovelace', 'Alan Turing', 12_500, at(day, 21), 'Shared dinner')
    if (day === 6) await importTransfer('Alan Turing', 'Grace Hopper', 40_000, at(day, 20), 'Bike')
    if (day === Math.min(days - 4, 9)) {
      // Emmy empties her account and closes it: a later transfer to her is refused and refunded.
      const emmy = idOf('Emmy Noether')
      const rest = balanceOf('Emmy Noether')
      if (rest > 0)
        await importCommand(
          WithdrawMoney.create({ accountId: emmy, amount: rest, description: 'Moving abroad' }),
          at(day, 21),
          emmy,
        )
      await importCommand(CloseAccount.create({ accountId: emmy }), at(day, 22), emmy)
    }
    if (day === Math.min(days - 2, 11)) {
      await importTransfer('Ada Lovelace', 'Emmy Noether', 15_000, at(day, 20), 'Birthday present')
    }
  }

  const live: TransferView[] = []
  const grace = idOf('Grace Hopper')
  const ada = showcase.accountId
  if (balanceOf('Grace Hopper') < 5_000) {
    await deps.accounts.handler.handle(DepositMoney.create({ accountId: grace, amount: 10_000, description: 'Top-up' }))
  }
  live.push(
    await deps.transfers.start(deterministicId('bank-demo-seed-live\u00001'), {
      fromAccountId: grace,
      toAccountId: ada,
      amount: 4_200,
      description: 'Book club refund',
    }),
  )
  live.push(
    await deps.transfers.start(deterministicId('bank-demo-seed-live\u00002'), {
      fromAccountId: ada,
      toAccountId: idOf('Kurt Gödel'),
      amount: 1_000,
      description: 'Postcard stamps (EUR to a USD account)',
    }),
  )
  return { seeded: true, accounts, showcase, imported, from, to: now, liveTransfers: live }
}
