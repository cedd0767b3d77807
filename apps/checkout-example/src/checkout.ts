import { performance } from 'node:perf_hooks'
import { defineEvent, type EventOf, parseSchema } from '@annals/core'
import {
  type ConsumedMessage,
  createIdempotentHandler,
  createOutboxRelay,
  createRedisStreamsConsumer,
  createRedisStreamsPublisher,
  listConsumerDeadLetters,
  publicationMap,
  type RedisStreamsConsumer,
  redriveConsumerDeadLetters,
} from '@annals/outbox'
import { createPostgresEventStore, createPostgresLogWatcher } from '@annals/store-postgres'
import type { Redis } from 'ioredis'
import type pg from 'pg'
import { z } from 'zod'

/** The one event of the story: published to every consumer through the outbox. */
export const OrderPlaced = defineEvent(
  'OrderPlaced',
  z.object({ orderId: z.string(), customer: z.string(), sku: z.string(), quantity: z.number().int().positive() }),
)
/** An order as checkout receives it. */
export type Order = EventOf<typeof OrderPlaced>['data']

/** The topic every consumer group reads. */
export const ORDERS_TOPIC = 'orders'

/** Where the example lives: a pool, a Redis client and a key prefix for its streams. */
export type CheckoutOptions = Readonly<{ pool: pg.Pool; redis: Redis; keyPrefix: string }>

/** The order service: `placeOrder` answers as soon as the order's event (and its outbox row) is committed. */
export function createOrderService(options: CheckoutOptions) {
  const { pool } = options
  // Group commit: concurrent checkouts share one transaction and statement, so a burst costs a few
  // round trips instead of one per order.
  const store = createPostgresEventStore({
    pool,
    groupCommit: { maxBatch: 500, maxInFlight: 4 },
    outbox: {
      publish: publicationMap<EventOf<typeof OrderPlaced>>({
        OrderPlaced: { topic: ORDERS_TOPIC, toMessage: (e) => ({ payload: e.data }) },
      }),
    },
  })
  const watcher = createPostgresLogWatcher({ pool })
  const relay = createOutboxRelay({
    pool,
    publisher: createRedisStreamsPublisher({ redis: options.redis, keyPrefix: options.keyPrefix }),
    watcher,
    batchSize: 500,
    pipelineDepth: 3,
    pollIntervalMs: 50,
    retentionMs: 0,
  })
  return {
    /**
     * One append of a new stream: no load, expected version "no stream" (an order id is placed once).
     * Returns the answer checkout gives and how long it took.
     */
    async placeOrder(order: Order): Promise<{ answer: 'Order placed'; ms: number }> {
      const started = performance.now()
      await store.appendToStream(`order-${order.orderId}`, [OrderPlaced.create(order)], {
        expectedVersion: 'no-stream',
      })
      return { answer: 'Order placed', ms: performance.now() - started }
    },
    relay,
    async close() {
      await relay.stop()
      await watcher.close()
    },
  }
}

/** What a consumer does with one order (throwing leaves it for a retry, then the dead-letter stream). */
export type OrderHandler = (order: Order) => Promise<void> | void

/**
 * One downstream service: its own consumer group on the orders stream, an idempotent handler (the
 * message id is recorded in its own transaction), a dead-letter stream after `maxDeliveries`.
 */
export function createOrderConsumer(
  options: CheckoutOptions & Readonly<{ group: string; handle: OrderHandler; maxDeliveries?: number }>,
): RedisStreamsConsumer & { readonly handled: Set<string> } {
  const handled = new Set<string>()
  const idempotent = createIdempotentHandler<ConsumedMessage>({
    pool: options.pool,
    consumer: options.group,
    handle: async (message) => {
      const order = parseSchema(OrderPlaced.schema, message.payload, 'OrderPlaced message')
      await options.handle(order)
      handled.add(order.orderId)
    },
  })
  const consumer = createRedisStreamsConsumer({
    redis: options.redis,
    keyPrefix: options.keyPrefix,
    topic: ORDERS_TOPIC,
    group: options.group,
    consumer: `${options.group}-1`,
    batchSize: 200,
    blockMs: 200,
    retryDelayMs: 50,
    maxDeliveries: options.maxDeliveries ?? 3,
    handle: idempotent,
  })
  return Object.assign(consumer, { handled })
}

/** The group's dead letters, and a redrive of all of them back onto the stream. */
export function deadLetters(options: CheckoutOptions & Readonly<{ group: string }>) {
  const location = { redis: options.redis, keyPrefix: options.keyPrefix, topic: ORDERS_TOPIC, group: options.group }
  return {
    list: () => listConsumerDeadLetters(location),
    redrive: () => redriveConsumerDeadLetters(location),
  }
}

/** The p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number
}
