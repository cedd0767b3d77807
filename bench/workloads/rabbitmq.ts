import type { OutboundMessage } from '@annals/core'
import { migrateOutbox } from '@annals/outbox'
import {
  createRabbitMqConsumer,
  createRabbitMqPublisher,
  declareConsumerQueue,
  defineRabbitMqHandler,
  deleteConsumerQueue,
  type RabbitMqConsumer,
  routingKeyOf,
} from '@annals/rabbitmq'
import { createPostgresEventStore, migrate as migrateStore } from '@annals/store-postgres'
import amqp, { type ChannelModel } from 'amqplib'
import type pg from 'pg'
import { z } from 'zod'
import { newEvents } from '../lib/annals-events.js'
import { ANNALS_SCHEMA, NotAvailableError } from '../lib/annals-store.js'
import { type BenchContext, libraryLogger, type PairSpec, progress, timed } from '../lib/context.js'
import { createCountingRelay, within } from '../lib/relay-run.js'
import { createDatabase, onCleanup, runCleanups } from '../lib/services.js'

const AMQP_URL = process.env.BENCH_AMQP_URL ?? process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'
const BATCH = 1000
const PREFETCH = 20
const TIMEOUT_MS = 120_000
/**
 * Messages per consumer run, at most: every one is a Postgres commit (about 100-300 per second per
 * consumer on the shared 2-core machine), so the relay's 20,000 would make the consumer runs take many minutes.
 */
const CONSUMER_MESSAGES = 2_000

/**
 * RabbitMQ beside the raw amqplib client (same broker, same messages, same batches, publisher confirms
 * on both sides, persistent messages to one durable quorum queue):
 * - `rabbit.relay`: the outbox relay's `start()` loop with the RabbitMQ publisher, batches of 1,000
 *   outbox rows written by the store's append, until every row is confirmed and marked sent; against
 *   `raw.rabbit.publish`: the same rows' messages published on one confirm channel, 1,000 then
 *   `waitForConfirms()`, with no Postgres at all.
 * - `rabbit.consume.N` (at most 2,000 messages a run): N Annals consumers (each its own connection, prefetch 20, zod validation, the
 *   idempotent inbox in Postgres: one transaction per message, then the ack) draining a full queue;
 *   against `raw.rabbit.consume`: one amqplib consume loop doing the same per-message work by hand
 *   (JSON.parse, BEGIN, INSERT of the message id ON CONFLICT DO NOTHING, COMMIT, ack).
 */
export async function run(ctx: BenchContext): Promise<void> {
  const n = ctx.sizes.outboxEvents
  let connection: ChannelModel
  try {
    connection = await amqp.connect(AMQP_URL)
  } catch (error) {
    throw new NotAvailableError(`RabbitMQ unreachable at ${AMQP_URL} (${(error as Error).message})`)
  }
  connection.on('error', () => undefined)
  onCleanup(() => connection.close())
  try {
    const db = await createDatabase('annals_rabbit')
    const pool = db.pool(8)
    await migrateStore({ pool, schema: ANNALS_SCHEMA })
    await migrateOutbox({ pool, schema: ANNALS_SCHEMA })
    const tag = Math.random().toString(36).slice(2, 8)
    const exchange = `annals-bench.${tag}`
    const { queue } = await declareConsumerQueue({ connection, queue: `annals-bench.${tag}.all`, exchange })
    onCleanup(async () => {
      await deleteConsumerQueue(connection, queue)
      const ch = await connection.createChannel()
      await ch.deleteExchange(exchange)
      await ch.close()
    })
    const inspect = await connection.createChannel()
    const purge = () => inspect.purgeQueue(queue)
    const depth = async () => (await inspect.checkQueue(queue)).messageCount

    const store = createPostgresEventStore({
      pool,
      schema: ANNALS_SCHEMA,
      outbox: { publish: () => [{ topic: exchange }] },
    })
    let seq = 0
    const seed = async (count = n) => {
      for (let done = 0; done < count; done += 100) {
        const id = `acct-${seq++ % 100}`
        await store.appendToStream(id, newEvents(id, 1, Math.min(100, count - done)))
      }
      await pool.query(`ANALYZE ${ANNALS_SCHEMA}.outbox`)
    }

    progress(`rabbitmq relay: ${n.toLocaleString('en-US')} messages per run, batches of ${BATCH}`)
    const rabbit = createRabbitMqPublisher({ connection })
    onCleanup(async () => rabbit.close?.())
    const relay = createCountingRelay({ pool, publisher: rabbit, batchSize: BATCH })
    const relaySpec: PairSpec = {
      id: 'rabbit.relay',
      system: 'annals',
      unit: 'ev/s',
      note: () => `start() loop, batchSize ${BATCH}, confirms, 100 partition keys`,
      fn: async () => {
        await purge()
        await seed()
        const r = await relay.drain(n)
        const unsent = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${ANNALS_SCHEMA}.outbox WHERE status <> 'sent'`,
        )
        const inQueue = await depth()
        if (r.count !== n || inQueue !== n || unsent.rows[0]?.n !== 0) {
          throw new Error(
            `relay published ${r.count}, queue holds ${inQueue}, ${unsent.rows[0]?.n} rows unsent, expected ${n}`,
          )
        }
        return r
      },
    }
    const raw = await connection.createConfirmChannel()
    onCleanup(() => raw.close().catch(() => undefined))
    const rawSpec: PairSpec = {
      id: 'raw.rabbit.publish',
      system: 'raw',
      unit: 'ev/s',
      note: () => `one confirm channel, ${BATCH} then waitForConfirms()`,
      fn: async () => {
        await purge()
        // The very rows the relay would publish, taken out of the outbox untimed.
        await seed()
        const messages = await pendingMessages(pool)
        await pool.query(`DELETE FROM ${ANNALS_SCHEMA}.outbox`)
        const r = await timed(async () => {
          for (let i = 0; i < messages.length; i += BATCH) {
            for (const m of messages.slice(i, i + BATCH)) {
              raw.publish(exchange, routingKeyOf(m.type), Buffer.from(JSON.stringify(m.payload)), {
                persistent: true,
                mandatory: true,
                contentType: 'application/json',
                messageId: m.messageId,
                type: m.type,
                headers: { ...m.headers, 'annals-topic': m.topic, 'annals-partition-key': m.partitionKey },
              })
            }
            await raw.waitForConfirms()
          }
          return messages.length
        })
        if ((await depth()) !== n) throw new Error(`raw publish left ${await depth()} messages, expected ${n}`)
        return r
      },
    }
    await ctx.paired([rawSpec, relaySpec], { runs: ctx.sizes.longRuns })
    await pool.query(`TRUNCATE ${ANNALS_SCHEMA}.outbox`)

    const m = Math.min(n, ctx.mode === 'quick' ? 100 : CONSUMER_MESSAGES)
    progress(`rabbitmq consumers: ${m.toLocaleString('en-US')} messages per run, prefetch ${PREFETCH}`)
    // The queue is filled by the Annals publisher (what the consumers parse), untimed.
    const fill = async () => {
      await purge()
      await pool.query(`TRUNCATE ${ANNALS_SCHEMA}.processed_messages`)
      await seed(m)
      const messages = await pendingMessages(pool)
      await pool.query(`TRUNCATE ${ANNALS_SCHEMA}.outbox`)
      for (let i = 0; i < messages.length; i += BATCH) await rabbit.publish(messages.slice(i, i + BATCH))
    }
    const payload = z.object({ accountId: z.string(), amount: z.number(), currency: z.string(), reference: z.string() })
    const noEffect = defineRabbitMqHandler(payload, async () => undefined)
    const consumersSpec = (count: number): PairSpec => ({
      id: `rabbit.consume.${count}`,
      system: 'annals',
      unit: 'ev/s',
      note: () => `${count} consumer(s), prefetch ${PREFETCH}, inbox transaction per message`,
      fn: async () => {
        await fill()
        const connections = await Promise.all(Array.from({ length: count }, () => amqp.connect(AMQP_URL)))
        const consumers: RabbitMqConsumer[] = connections.map((c) =>
          createRabbitMqConsumer({
            connection: c,
            queue,
            prefetch: PREFETCH,
            handlers: { Deposited: noEffect, Withdrawn: noEffect },
            inbox: { pool, schema: ANNALS_SCHEMA, consumer: 'bench' },
            logger: libraryLogger(),
          }),
        )
        const done = () => consumers.reduce((sum, c) => sum + c.counts.processed, 0)
        try {
          return await timed(async () => {
            await Promise.all(consumers.map((c) => c.start()))
            await within(
              poll(() => done() >= m),
              () => `consumers processed ${done()} of ${m}`,
            )
            return done()
          })
        } finally {
          await Promise.all(consumers.map((c) => c.stop()))
          await Promise.all(connections.map((c) => c.close().catch(() => undefined)))
        }
      },
    })
    const rawConsumeSpec: PairSpec = {
      id: 'raw.rabbit.consume',
      system: 'raw',
      unit: 'ev/s',
      note: () => `one consume loop, prefetch ${PREFETCH}, BEGIN/INSERT/COMMIT then ack per message`,
      fn: async () => {
        await fill()
        const ch = await connection.createChannel()
        await ch.prefetch(PREFETCH)
        let handled = 0
        let tail: Promise<void> = Promise.resolve()
        try {
          return await timed(async () => {
            const { consumerTag } = await ch.consume(queue, (msg) => {
              if (msg === null) return
              tail = tail.then(async () => {
                JSON.parse(msg.content.toString('utf8'))
                const client = await pool.connect()
                try {
                  await client.query('BEGIN')
                  await client.query(
                    `INSERT INTO ${ANNALS_SCHEMA}.processed_messages (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
                    ['raw', msg.properties.messageId],
                  )
                  await client.query('COMMIT')
                } finally {
                  client.release()
                }
                ch.ack(msg)
                handled += 1
              })
            })
            await within(
              poll(() => handled >= m),
              () => `raw loop handled ${handled} of ${m}`,
            )
            await ch.cancel(consumerTag)
            return handled
          })
        } finally {
          await tail
          await ch.close().catch(() => undefined)
        }
      },
    }
    await ctx.paired([rawConsumeSpec, consumersSpec(1), consumersSpec(2), consumersSpec(3)], {
      runs: ctx.sizes.longRuns,
    })
  } finally {
    await runCleanups(progress)
  }
}

/** Every pending outbox row as the message the relay would publish, in id order. */
async function pendingMessages(pool: pg.Pool): Promise<OutboundMessage[]> {
  const { rows } = await pool.query<{
    message_id: string
    topic: string
    partition_key: string
    type: string
    payload: unknown
    headers: Record<string, string>
  }>(
    `SELECT message_id, topic, partition_key, type, payload, headers FROM ${ANNALS_SCHEMA}.outbox WHERE status = 'pending' ORDER BY id`,
  )
  return rows.map((r) => ({
    messageId: r.message_id,
    topic: r.topic,
    partitionKey: r.partition_key,
    type: r.type,
    payload: r.payload,
    headers: r.headers,
  }))
}

/** Resolves once `check()` is true (checked every 5 ms); gives up silently after the run's timeout. */
function poll(check: () => boolean): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (check()) resolve()
      if (check() || Date.now() > deadline) clearInterval(timer)
    }, 5)
  })
}
