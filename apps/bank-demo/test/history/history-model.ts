import { publicationMap } from '@annals/outbox'
import { createPostgresSink, createRedisSink, defineProjection } from '@annals/projections'
import type { Redis } from 'ioredis'
import type pg from 'pg'
import { type AccountEvent, MoneyDeposited, MoneyWithdrawn } from '../../src/accounts/account.js'

// What the history checker's writers, workers and consumer agree on. Every movement carries the id
// its writer chose (`description`), so each copy of it can be told from every other wherever it lands.

/** The store's (and the outbox's) schema. */
export const HISTORY_SCHEMA = 'hist'
/** Schema of the Postgres read model (the view `applied` points at the live generation). */
export const READ_SCHEMA = 'hist_read'
/** Topic the outbox publishes the movements to. */
export const HISTORY_TOPIC = 'bank.history'
/** Key prefix of the Redis read model, and of the broker's streams. */
export const REDIS_PREFIX = 'hist:'
export const BROKER_PREFIX = 'hist-broker'
export const REDIS_PROJECTION = 'history-redis'
export const PG_PROJECTION = 'history-pg'
/** The consumer's table, written in the idempotent handler's transaction. */
export const CONSUMED_TABLE = `${HISTORY_SCHEMA}.consumed`

/** The outbox rows of an append: every movement, keyed by its account's stream (per-stream order). */
export const historyPublication = publicationMap<AccountEvent>({
  MoneyDeposited: { topic: HISTORY_TOPIC },
  MoneyWithdrawn: { topic: HISTORY_TOPIC },
})

const signed = (e: { type: 'MoneyDeposited' | 'MoneyWithdrawn'; data: { amount: number } }) =>
  e.type === 'MoneyDeposited' ? e.data.amount : -e.data.amount

/**
 * Redis read model: per account stream the list of movement ids in the order applied, and the balance.
 * `RPUSH` and `HINCRBY` are not idempotent: a movement applied twice shows up, as does a lost one.
 */
export function redisHistoryProjection(redis: Redis) {
  return defineProjection({
    name: REDIS_PROJECTION,
    version: 1,
    handles: [MoneyDeposited, MoneyWithdrawn],
    sink: createRedisSink({ redis, keyPrefix: REDIS_PREFIX }),
    handlers: {
      MoneyDeposited: (e, w) => {
        w.rpush(`${e.streamId}:log`, e.data.description ?? '')
        w.hincrby(e.streamId, 'balance', signed(e))
      },
      MoneyWithdrawn: (e, w) => {
        w.rpush(`${e.streamId}:log`, e.data.description ?? '')
        w.hincrby(e.streamId, 'balance', signed(e))
      },
    },
  })
}

/** Postgres read model: one row per application (no unique key, so a second application is a second row). */
export function pgHistoryProjection(pool: pg.Pool) {
  return defineProjection({
    name: PG_PROJECTION,
    version: 1,
    handles: [MoneyDeposited, MoneyWithdrawn],
    sink: createPostgresSink({
      pool,
      schema: READ_SCHEMA,
      tables: {
        applied: (t) =>
          `CREATE TABLE ${t} (ord bigserial PRIMARY KEY, stream_id text NOT NULL, version bigint NOT NULL,
             uid text NOT NULL, amount bigint NOT NULL)`,
      },
    }),
    async apply(e, { client, table }) {
      await client.query(`INSERT INTO ${table('applied')} (stream_id, version, uid, amount) VALUES ($1, $2, $3, $4)`, [
        e.streamId,
        e.streamVersion.toString(),
        e.data.description ?? '',
        signed(e),
      ])
    },
  })
}
