import {
  createOutboxRelay,
  createRedisStreamsPublisher,
  getOutboxStatus,
  migrateOutbox,
  publicationMap,
  streamKey,
} from '@annals/outbox'
import {
  createPostgresEventStore,
  createPostgresIdempotencyStore,
  createPostgresLogWatcher,
  createPostgresSnapshotStore,
  migrate,
} from '@annals/store-postgres'
import type { Redis } from 'ioredis'
import type pg from 'pg'
import type { Logger } from 'pino'
import type { AccountEvent } from './accounts/account.js'
import type { WriteSide } from './compose.js'
import { outboxCheck } from './health.js'
import { type BrokerTarget, publishToAll } from './rabbitmq-outbox.js'

/** The integration topic every deposit and withdrawal is published to (through the outbox). */
export const TRANSACTIONS_TOPIC = 'bank.transactions'

/** Where the outbox relay publishes: Redis Streams when there is a Redis, and any other brokers (RabbitMQ). */
export type OutboxTarget = Readonly<{
  redis?: Redis
  keyPrefix: string
  logger?: Logger
  brokers?: readonly BrokerTarget[]
}>

const movement = (kind: 'deposit' | 'withdrawal') => ({
  topic: TRANSACTIONS_TOPIC,
  toMessage: (e: { data: { accountId: string; amount: number; transferId?: string | undefined } }) => ({
    type: `bank.${kind}`,
    payload: { accountId: e.data.accountId, amount: e.data.amount, transferId: e.data.transferId ?? null },
  }),
})

/**
 * The write side on PostgreSQL (@annals/store-postgres): migrates, then event, snapshot and
 * idempotency stores. With an outbox target, every deposit and withdrawal also gets an outbox row in
 * its append's transaction, and a relay moves the rows to the Redis stream `<prefix>outbox:bank.transactions`.
 */
export async function postgresWriteSide(pool: pg.Pool, outbox?: OutboxTarget, schema = 'bank'): Promise<WriteSide> {
  await migrate({ pool, schema })
  const watcher = createPostgresLogWatcher({ pool, schema })
  if (outbox) await migrateOutbox({ pool, schema })
  const store = createPostgresEventStore({
    pool,
    schema,
    ...(outbox
      ? {
          outbox: {
            publish: publicationMap<AccountEvent>({
              MoneyDeposited: movement('deposit'),
              MoneyWithdrawn: movement('withdrawal'),
            }),
          },
        }
      : {}),
  })
  const relay = outbox
    ? createOutboxRelay({
        pool,
        schema,
        publisher: publishToAll([
          ...(outbox.redis
            ? [createRedisStreamsPublisher({ redis: outbox.redis, keyPrefix: `${outbox.keyPrefix}outbox` })]
            : []),
          ...(outbox.brokers ?? []).map((b) => b.publisher),
        ]),
        ...(watcher ? { watcher } : {}),
        ...(outbox.logger ? { logger: outbox.logger } : {}),
      })
    : null
  relay?.start()
  return {
    store,
    // All snapshots are kept: time travel into any part of the history starts near its target.
    snapshots: createPostgresSnapshotStore({ pool, schema, keep: 'all' }),
    idempotency: createPostgresIdempotencyStore({ pool, schema }),
    watcher,
    health: outbox ? [outboxCheck(() => getOutboxStatus({ pool, schema }))] : [],
    describe: outbox
      ? `PostgreSQL event store (schema ${schema}) with outbox → ${[
          ...(outbox.redis ? [`Redis stream ${streamKey(`${outbox.keyPrefix}outbox`, TRANSACTIONS_TOPIC)}`] : []),
          ...(outbox.brokers ?? []).map((b) => b.describe),
        ].join(' and ')}`
      : `PostgreSQL event store (schema ${schema})`,
    async release() {
      await relay?.stop()
      for (const broker of outbox?.brokers ?? []) await broker.release()
      await watcher.close()
    },
  }
}
