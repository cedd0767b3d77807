import { type EventStore, LOG_START, type LogCheckpoint, type RecordedEvent } from '@annals/core'
import { type AccountEvent, BankAccount } from '../accounts/account.js'
import type { AccountHit, AccountSummary, AccountsReadModel, BankSearch, TransactionHit } from './read-model.js'

const ACCOUNT_TYPES = BankAccount.events.types as readonly string[]

/** The zero-setup read models: summaries and search held in memory, fed from the global log. */
export interface InMemoryReadModels {
  readonly accounts: AccountsReadModel
  readonly search: BankSearch
  /** Reads the log from the last checkpoint to its head and applies what is new. */
  catchUp(): Promise<void>
  /** Follows the log every `intervalMs` until {@link InMemoryReadModels.stop}. */
  start(intervalMs?: number): void
  stop(): Promise<void>
}

/**
 * Creates the in-memory read models. They read the same global log (`readAll`) as the real
 * projections, so the demo shows the same eventual consistency without Redis or Elasticsearch.
 */
export function createInMemoryReadModels(store: EventStore): InMemoryReadModels {
  const summaries = new Map<string, AccountSummary>()
  const transactions: TransactionHit[] = []
  let checkpoint: LogCheckpoint = LOG_START
  let running: Promise<void> | null = null
  let timer: NodeJS.Timeout | null = null

  function apply(recorded: RecordedEvent<AccountEvent>): void {
    const at = recorded.recordedAt.toISOString()
    const version = recorded.streamVersion.toString()
    const id = recorded.data.accountId
    if (recorded.type === 'AccountOpened') {
      summaries.set(id, {
        ...recorded.data,
        status: 'open',
        balance: 0,
        transactions: 0,
        openedAt: at,
        updatedAt: at,
        version,
      })
      return
    }
    const current = summaries.get(id)
    if (!current) return
    if (recorded.type === 'AccountClosed') {
      summaries.set(id, { ...current, status: 'closed', updatedAt: at, version })
      return
    }
    const sign = recorded.type === 'MoneyDeposited' ? 1 : -1
    summaries.set(id, {
      ...current,
      balance: current.balance + sign * recorded.data.amount,
      transactions: current.transactions + 1,
      updatedAt: at,
      version,
    })
    transactions.push({
      eventId: recorded.eventId,
      accountId: id,
      owner: current.owner,
      currency: current.currency,
      kind: sign > 0 ? 'deposit' : 'withdrawal',
      amount: recorded.data.amount,
      description: recorded.data.description ?? null,
      transferId: recorded.data.transferId ?? null,
      recordedAt: at,
    })
  }

  async function drain(): Promise<void> {
    for (;;) {
      const batch = await store.readAll({ after: checkpoint, types: ACCOUNT_TYPES, limit: 1000 })
      for (const raw of batch.events) apply(BankAccount.events.decode(raw))
      checkpoint = batch.checkpoint
      if (batch.caughtUp || batch.events.length === 0) return
    }
  }

  function catchUp(): Promise<void> {
    // One reader at a time: a second caller waits for the running pass, then runs its own.
    const next = (running ?? Promise.resolve()).then(drain)
    running = next.catch(() => undefined)
    return next
  }

  const matches = (q: string, ...fields: (string | null)[]) => {
    const needle = q.toLowerCase()
    return fields.some((field) => field?.toLowerCase().includes(needle))
  }

  const accounts: AccountsReadModel = {
    kind: 'memory',
    async get(accountId) {
      return summaries.get(accountId) ?? null
    },
    async list() {
      return [...summaries.values()].sort((a, b) => a.owner.localeCompare(b.owner))
    },
  }

  const search: BankSearch = {
    kind: 'memory',
    async accounts(q, limit) {
      const hits: AccountHit[] = []
      for (const s of summaries.values()) {
        if (matches(q, s.owner, s.accountId, s.currency)) {
          hits.push({
            accountId: s.accountId,
            owner: s.owner,
            currency: s.currency,
            status: s.status,
            balance: s.balance,
          })
        }
      }
      return hits.slice(0, limit)
    },
    async transactions(q, limit) {
      const hits = transactions.filter((t) => matches(q, t.owner, t.description, t.accountId, t.transferId, t.kind))
      return hits.slice(-limit).reverse()
    },
  }

  return {
    accounts,
    search,
    catchUp,
    start(intervalMs = 100) {
      if (timer) return
      const tick = () => {
        catchUp()
          .catch(() => undefined)
          .finally(() => {
            if (timer) timer = setTimeout(tick, intervalMs)
          })
      }
      timer = setTimeout(tick, 0)
    },
    async stop() {
      if (timer) clearTimeout(timer)
      timer = null
      await running
    },
  }
}
