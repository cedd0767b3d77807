/** An account as the read side sees it (`GET /accounts/:id`). */
export type AccountSummary = Readonly<{
  accountId: string
  owner: string
  currency: string
  status: 'open' | 'closed'
  balance: number
  overdraftLimit: number
  /** Number of deposits and withdrawals. */
  transactions: number
  openedAt: string
  updatedAt: string
  /** Stream version of the last event folded in (a string: versions are bigints). */
  version: string
}>

/** One deposit or withdrawal as the search read model stores it. */
export type TransactionHit = Readonly<{
  eventId: string
  accountId: string
  owner: string
  currency: string
  kind: 'deposit' | 'withdrawal'
  amount: number
  description: string | null
  transferId: string | null
  recordedAt: string
}>

/** An account as the search read model stores it. */
export type AccountHit = Readonly<{
  accountId: string
  owner: string
  currency: string
  status: 'open' | 'closed'
  balance: number
}>

/** The account summaries read model (Redis in production, memory in zero-setup mode). */
export interface AccountsReadModel {
  /** Which store answers (shown by the app and the page). */
  readonly kind: string
  get(accountId: string): Promise<AccountSummary | null>
  /** Every account, owner order (the page's account picker). */
  list(): Promise<readonly AccountSummary[]>
}

/** The search read models (Elasticsearch in production, memory in zero-setup mode). */
export interface BankSearch {
  readonly kind: string
  accounts(q: string, limit: number): Promise<readonly AccountHit[]>
  transactions(q: string, limit: number): Promise<readonly TransactionHit[]>
}
