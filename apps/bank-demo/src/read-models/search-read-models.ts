import type { RecordedEvent } from '@annals/core'
import {
  createElasticsearchSink,
  createSearch,
  defineElasticsearchProjection,
  type ElasticsearchWriter,
} from '@annals/elasticsearch'
import type { Client } from '@elastic/elasticsearch'
import type { Logger } from 'pino'
import { AccountClosed, AccountOpened, MoneyDeposited, MoneyWithdrawn } from '../accounts/account.js'
import type { AccountHit, BankSearch, TransactionHit } from './read-model.js'

/** An account document of the `search-accounts` index. */
type AccountDoc = AccountHit

/**
 * A document of the `search-transactions` index: transactions, plus one `account` document per
 * account so each transaction can carry its owner's name without reading the write side.
 */
type TransactionDoc =
  | (TransactionHit & { doc: 'transaction' })
  | Readonly<{ doc: 'account'; accountId: string; owner: string; currency: string }>

const keyword = { type: 'keyword' } as const
const ownerField = { type: 'text', fields: { keyword: { type: 'keyword' } } } as const

/** The two search projections (accounts and transactions) on one Elasticsearch/OpenSearch client. */
export function searchProjections(client: Client, indexPrefix: string, logger?: Logger) {
  // wait_for: a client that changed an account sees the change in its next search.
  const sinkBase = { client, indexPrefix, refresh: 'wait_for' as const, ...(logger ? { logger } : {}) }
  const accounts = defineElasticsearchProjection({
    name: 'search-accounts',
    version: 1,
    handles: [AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed],
    sink: createElasticsearchSink<AccountDoc>({
      ...sinkBase,
      mappings: {
        properties: {
          accountId: keyword,
          owner: ownerField,
          currency: keyword,
          status: keyword,
          balance: { type: 'long' },
        },
      },
    }),
    handlers: {
      AccountOpened: (e, es) =>
        es.index(e, e.data.accountId, {
          accountId: e.data.accountId,
          owner: e.data.owner,
          currency: e.data.currency,
          status: 'open',
          balance: 0,
        }),
      MoneyDeposited: (e, es) =>
        es.update(e, e.data.accountId, (a) => a && { ...a, balance: a.balance + e.data.amount }),
      MoneyWithdrawn: (e, es) =>
        es.update(e, e.data.accountId, (a) => a && { ...a, balance: a.balance - e.data.amount }),
      AccountClosed: (e, es) => es.update(e, e.data.accountId, (a) => a && { ...a, status: 'closed' }),
    },
  })

  const movement = async (
    e: RecordedEvent<{
      type: string
      data: { accountId: string; amount: number; description?: string | undefined; transferId?: string | undefined }
    }>,
    es: ElasticsearchWriter<TransactionDoc>,
    kind: 'deposit' | 'withdrawal',
  ) => {
    const account = await es.get(`account-${e.data.accountId}`)
    es.index(e, e.eventId, {
      doc: 'transaction',
      eventId: e.eventId,
      accountId: e.data.accountId,
      owner: account?.owner ?? '',
      currency: account?.currency ?? '',
      kind,
      amount: e.data.amount,
      description: e.data.description ?? null,
      transferId: e.data.transferId ?? null,
      recordedAt: e.recordedAt.toISOString(),
    })
  }

  const transactions = defineElasticsearchProjection({
    name: 'search-transactions',
    version: 1,
    handles: [AccountOpened, MoneyDeposited, MoneyWithdrawn],
    sink: createElasticsearchSink<TransactionDoc>({
      ...sinkBase,
      mappings: {
        properties: {
          doc: keyword,
          eventId: keyword,
          accountId: keyword,
          owner: ownerField,
          currency: keyword,
          kind: keyword,
          amount: { type: 'long' },
          description: { type: 'text' },
          transferId: keyword,
          recordedAt: { type: 'date' },
        },
      },
    }),
    handlers: {
      AccountOpened: (e, es) =>
        es.index(e, `account-${e.data.accountId}`, {
          doc: 'account',
          accountId: e.data.accountId,
          owner: e.data.owner,
          currency: e.data.currency,
        }),
      MoneyDeposited: (e, es) => movement(e, es, 'deposit'),
      MoneyWithdrawn: (e, es) => movement(e, es, 'withdrawal'),
    },
  })
  return { accounts, transactions }
}

/** The bank's search over the two Elasticsearch projections. */
export function createElasticsearchBankSearch(
  client: Client,
  projections: ReturnType<typeof searchProjections>,
  indexPrefix: string,
): BankSearch {
  const accounts = createSearch<AccountDoc>(client, projections.accounts)
  // Read by name: the filter below keeps only transaction documents, so the reader's type is the flat one.
  const transactions = createSearch<TransactionHit & { doc: string }>(client, projections.transactions.name, {
    indexPrefix,
  })
  // Free text goes through match queries (analysed, never parsed as query syntax); ids and codes match exactly.
  return {
    kind: 'elasticsearch',
    async accounts(q, limit) {
      const result = await accounts.search({
        size: limit,
        query: {
          bool: {
            should: [
              { match: { owner: { query: q, fuzziness: 'AUTO' } } },
              { match_phrase_prefix: { owner: q } },
              { term: { accountId: q } },
              { term: { currency: q.toUpperCase() } },
            ],
            minimum_should_match: 1,
          },
        },
      })
      return result.hits
    },
    async transactions(q, limit) {
      const result = await transactions.search({
        size: limit,
        sort: [{ recordedAt: 'desc' }],
        query: {
          bool: {
            filter: [{ term: { doc: 'transaction' } }],
            should: [
              { match: { description: { query: q, fuzziness: 'AUTO' } } },
              { match: { owner: { query: q, fuzziness: 'AUTO' } } },
              { term: { transferId: q } },
              { term: { accountId: q } },
              { term: { kind: q.toLowerCase() } },
            ],
            minimum_should_match: 1,
          },
        },
      })
      return result.hits.flatMap((hit) => {
        if (hit.doc !== 'transaction') return []
        const { doc: _doc, ...rest } = hit
        return [rest]
      })
    },
  }
}
