import { randomBytes } from 'node:crypto'
import type { Event } from '@annals/core'
import { migrateOutbox, publicationMap } from '@annals/outbox'
import { createPostgresEventStore, migrate, type PostgresEventStore } from '@annals/store-postgres'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import { killAllSpawned } from '@annals/test-support'
import amqp, { type Channel, type ChannelModel, type GetMessage } from 'amqplib'
import { afterAll, afterEach, beforeAll } from 'vitest'

/** The broker the tests run against (started by `scripts/services.sh`). */
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'

/** What one test file works against: its own database, one connection, and names nobody else uses. */
export type RabbitBed = {
  db: TestDatabase
  connection: ChannelModel
  /** A channel for the test's own inspection (`get`, `purge`); reopened if a test closes it. */
  channel(): Promise<Channel>
  /** A name unique to this run (`annals-test.<label>.<name>.<random>`), deleted after the file as exchange and queue. */
  name(name: string): string
}

/**
 * Registers the hooks of one test file: a fresh database and an AMQP connection before all tests;
 * spawned workers killed after each; every queue and exchange named through `name()` (and their
 * dead-letter queues and exchanges) deleted after all.
 */
export function useRabbitBed(label: string): RabbitBed {
  const names: string[] = []
  let inspect: Channel | undefined
  const bed: RabbitBed = {
    name(name) {
      const full = `annals-test.${label}.${name}.${randomBytes(4).toString('hex')}`
      names.push(full)
      return full
    },
    async channel() {
      if (inspect === undefined) {
        const ch = await bed.connection.createChannel()
        ch.on('error', () => undefined)
        ch.on('close', () => {
          if (inspect === ch) inspect = undefined
        })
        inspect = ch
      }
      return inspect
    },
  } as RabbitBed
  beforeAll(async () => {
    bed.db = await createTestDatabase(`annals_rabbit_${label}`, { poolSize: 12 })
    bed.connection = await amqp.connect(AMQP_URL)
    bed.connection.on('error', () => undefined)
  })
  afterEach(killAllSpawned)
  afterAll(async () => {
    await killAllSpawned()
    if (bed.connection) {
      const ch = await bed.connection.createChannel()
      ch.on('error', () => undefined)
      for (const n of names) {
        for (const q of [n, `${n}.dead`]) await ch.deleteQueue(q).catch(() => undefined)
        for (const x of [n, `${n}.dlx`]) await ch.deleteExchange(x).catch(() => undefined)
      }
      await ch.close().catch(() => undefined)
      await bed.connection.close().catch(() => undefined)
    }
    await bed.db?.drop()
  })
  return bed
}

/** Every message waiting in `queue`, taken off it (acknowledged), in queue order. */
export async function drainQueue(channel: Channel, queue: string): Promise<GetMessage[]> {
  const out: GetMessage[] = []
  for (;;) {
    const m = await channel.get(queue, { noAck: true })
    if (m === false) return out
    out.push(m)
  }
}

export type AccountEvent =
  | Event<'AccountDeposited', { cents: number; seq: number }>
  | Event<'AccountWithdrawn', { cents: number; seq: number }>
  | Event<'MoneyTransferred', { cents: number; seq: number }>

/**
 * A fresh schema with the event store and outbox tables and a store whose appends write one outbox row
 * per event on topic `topic` (payload: the event's data; the metadata's `traceparent` as a header).
 */
export async function eventStoreWithOutbox(bed: RabbitBed, schema: string, topic: string): Promise<PostgresEventStore> {
  await migrate({ pool: bed.db.pool, schema })
  await migrateOutbox({ pool: bed.db.pool, schema })
  const route = {
    topic,
    toMessage: (e: { data: unknown; metadata: Readonly<Record<string, unknown>> }) => {
      const headers: Record<string, string> = {}
      if (typeof e.metadata.traceparent === 'string') headers.traceparent = e.metadata.traceparent
      return { payload: e.data, headers }
    },
  }
  return createPostgresEventStore({
    pool: bed.db.pool,
    schema,
    outbox: {
      publish: publicationMap<AccountEvent>({
        AccountDeposited: route,
        AccountWithdrawn: route,
        MoneyTransferred: route,
      }),
    },
  })
}

/** Outbox rows of `schema` by status. */
export async function outboxStatuses(bed: RabbitBed, schema: string): Promise<Record<string, number>> {
  const { rows } = await bed.db.pool.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM ${schema}.outbox GROUP BY status`,
  )
  return Object.fromEntries(rows.map((r) => [r.status, r.n]))
}

/** Creates `<schema>` with the outbox tables (for the inbox) and an `applied` table the test handlers write. */
export async function consumerSchema(bed: RabbitBed, schema: string): Promise<void> {
  await migrateOutbox({ pool: bed.db.pool, schema })
  await bed.db.pool.query(`CREATE TABLE ${schema}.applied (message_id text NOT NULL, seq int NOT NULL)`)
}

/** How often each message id was applied (rows in `<schema>.applied`). */
export async function appliedCounts(bed: RabbitBed, schema: string): Promise<Map<string, number>> {
  const { rows } = await bed.db.pool.query<{ message_id: string; n: number }>(
    `SELECT message_id, count(*)::int AS n FROM ${schema}.applied GROUP BY message_id`,
  )
  return new Map(rows.map((r) => [r.message_id, r.n]))
}
