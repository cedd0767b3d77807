import { createRedisReadModel, createRedisSink, defineProjection, type Projection } from '@annals/projections'
import type { Redis } from 'ioredis'
import { AccountClosed, AccountOpened, MoneyDeposited, MoneyWithdrawn } from '../accounts/account.js'
import type { AccountSummary, AccountsReadModel } from './read-model.js'

/** Name of the account summaries projection (its Redis keys are `<prefix>{account-summaries}…`). */
export const ACCOUNT_SUMMARIES = 'account-summaries'

/**
 * The account summaries projection into Redis: one hash per account and a set of account ids.
 * Writes are applied with the checkpoint in one Lua script by the sink, so a redelivered batch never
 * counts a deposit twice.
 */
export function accountSummariesProjection(redis: Redis, keyPrefix: string) {
  return defineProjection({
    name: ACCOUNT_SUMMARIES,
    version: 1,
    handles: [AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed],
    sink: createRedisSink({ redis, keyPrefix }),
    handlers: {
      AccountOpened: (e, w) => {
        const at = e.recordedAt.toISOString()
        w.hset(`account:${e.data.accountId}`, {
          accountId: e.data.accountId,
          owner: e.data.owner,
          currency: e.data.currency,
          status: 'open',
          balance: 0,
          overdraftLimit: e.data.overdraftLimit,
          transactions: 0,
          openedAt: at,
          updatedAt: at,
          version: e.streamVersion,
        })
        w.sadd('accounts', e.data.accountId)
      },
      MoneyDeposited: (e, w) => {
        const key = `account:${e.data.accountId}`
        w.hincrby(key, 'balance', e.data.amount)
        w.hincrby(key, 'transactions', 1)
        w.hset(key, { updatedAt: e.recordedAt.toISOString(), version: e.streamVersion })
      },
      MoneyWithdrawn: (e, w) => {
        const key = `account:${e.data.accountId}`
        w.hincrby(key, 'balance', -e.data.amount)
        w.hincrby(key, 'transactions', 1)
        w.hset(key, { updatedAt: e.recordedAt.toISOString(), version: e.streamVersion })
      },
      AccountClosed: (e, w) => {
        w.hset(`account:${e.data.accountId}`, {
          status: 'closed',
          updatedAt: e.recordedAt.toISOString(),
          version: e.streamVersion,
        })
      },
    },
  })
}

function toSummary(hash: Record<string, string>): AccountSummary {
  return {
    accountId: hash.accountId ?? '',
    owner: hash.owner ?? '',
    currency: hash.currency ?? '',
    status: hash.status === 'closed' ? 'closed' : 'open',
    balance: Number(hash.balance ?? 0),
    overdraftLimit: Number(hash.overdraftLimit ?? 0),
    transactions: Number(hash.transactions ?? 0),
    openedAt: hash.openedAt ?? '',
    updatedAt: hash.updatedAt ?? '',
    version: hash.version ?? '0',
  }
}

/** Reads account summaries from the live generation of the Redis projection. */
export function createRedisAccountsReadModel(redis: Redis, projection: Projection): AccountsReadModel {
  const reader = createRedisReadModel(redis, projection)
  return {
    kind: 'redis',
    async get(accountId) {
      const hash = await reader.hgetall(`account:${accountId}`)
      return hash ? toSummary(hash) : null
    },
    async list() {
      const ids = await reader.smembers('accounts')
      const hashes = await Promise.all(ids.map((id) => reader.hgetall(`account:${id}`)))
      return hashes
        .filter((h): h is Record<string, string> => h !== null)
        .map(toSummary)
        .sort((a, b) => a.owner.localeCompare(b.owner))
    },
  }
}
