import type { AccountService } from './accounts/account-service.js'
import type { SeededAccount } from './seed.js'

/** One line of the time-travel walk-through. */
export type WalkthroughLine = Readonly<{ label: string; at: Date | null; balance: number; version: string }>

const money = (minor: number, currency: string) =>
  `${(minor / 100).toLocaleString('en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${currency}`

/**
 * The balance of one account at several past moments (time travel through the event store, from the
 * nearest snapshot), next to its current balance.
 */
export async function timeTravelWalkthrough(
  accounts: AccountService,
  account: SeededAccount,
  from: Date,
  to: Date,
): Promise<{ lines: WalkthroughLine[]; text: string }> {
  const lines: WalkthroughLine[] = []
  const span = to.getTime() - from.getTime()
  for (const fraction of [0.1, 0.3, 0.5, 0.7, 0.9]) {
    const at = new Date(from.getTime() + span * fraction)
    const b = await accounts.balanceAt(account.accountId, { time: at })
    lines.push({
      label: `as of ${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      at,
      balance: b.balance,
      version: b.version,
    })
  }
  const current = await accounts.balanceAt(account.accountId, undefined)
  lines.push({ label: 'now (current)', at: null, balance: current.balance, version: current.version })
  const width = Math.max(...lines.map((l) => l.label.length))
  const text = [
    `Time travel: ${account.owner} (${account.accountId})`,
    ...lines.map(
      (l) => `  ${l.label.padEnd(width)}  ${money(l.balance, account.currency).padStart(14)}   (version ${l.version})`,
    ),
  ].join('\n')
  return { lines, text }
}
