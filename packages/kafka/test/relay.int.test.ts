import type { Event } from '@annals/core'
import { createOutboxRelay, getOutboxStatus, migrateOutbox, PublishFailedError, publicationMap } from '@annals/outbox'
import { createPostgresEventStore, migrate } from '@annals/store-postgres'
import { type SpawnedProcess, waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { KafkaInvalidOptionError } from '../src/errors.js'
import { KafkaHeaders, traceHeaders } from '../src/headers.js'
import { createKafkaConsumer, type KafkaConsumeOutcome, kafkaHandler } from '../src/kafka-consumer.js'
import { createKafkaPublisher } from '../src/kafka-publisher.js'
import { BROKERS, createTopic, readTopic, spawnWorker, unique, useDatabase } from './helpers.js'

const bed = useDatabase('relay')

type Stepped = Event<'Stepped', { seq: number }>

async function setup(schema: string, topic: string) {
  await migrate({ pool: bed.db.pool, schema })
  await migrateOutbox({ pool: bed.db.pool, schema })
  await bed.db.pool.query(`CREATE TABLE ${schema}.effects (message_id text NOT NULL, key text, seq int)`)
  const publish = publicationMap<Stepped>({
    Stepped: {
      topic,
      toMessage: (e) => ({
        payload: { key: e.streamId, seq: e.data.seq },
        headers: traceHeaders(e.metadata),
      }),
    },
  })
  return createPostgresEventStore({ pool: bed.db.pool, schema, outbox: { publish } })
}

describe('outbox relay to Kafka', () => {
  it('key = partition key, headers carry message id, type, correlation, causation and trace context', async () => {
    const schema = 'relay_headers'
    const topic = unique('relay-headers')
    await createTopic(topic, 6)
    const store = await setup(schema, topic)
    const metadata = {
      correlationId: 'corr-1',
      causationId: 'cause-1',
      traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
    }
    const { events } = await store.appendToStream('acct-1', [{ type: 'Stepped', data: { seq: 1 }, metadata }], {
      expectedVersion: 'no-stream',
    })
    const publisher = createKafkaPublisher({ brokers: BROKERS })
    const relay = createOutboxRelay({ pool: bed.db.pool, schema, publisher })
    expect(await relay.runOnce()).toMatchObject({ claimed: 1, published: 1 })
    await publisher.close()
    const records = await readTopic(topic)
    expect(records).toHaveLength(1)
    const [r] = records
    expect(r?.key).toBe('acct-1')
    expect(JSON.parse(r?.value ?? 'null')).toEqual({ key: 'acct-1', seq: 1 })
    expect(r?.headers).toMatchObject({
      [KafkaHeaders.messageId]: events[0]?.eventId,
      [KafkaHeaders.type]: 'Stepped',
      'correlation-id': 'corr-1',
      'causation-id': 'cause-1',
      traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
    })
  })

  it('batches published at once are all acknowledged, each record written once (the relay keeps two in flight)', async () => {
    const topic = unique('relay-inflight')
    await createTopic(topic, 6)
    const publisher = createKafkaPublisher({ brokers: BROKERS })
    const batch = (b: number) =>
      Array.from({ length: 200 }, (_, i) => ({
        messageId: `b${b}-${i}`,
        topic,
        partitionKey: `key-${b}-${i % 10}`,
        type: 'Stepped',
        payload: { seq: i },
        headers: {},
      }))
    // Several sends at once: on one idempotent producer the broker refuses all but one with
    // OUT_OF_ORDER_SEQUENCE_NUMBER, so each send in flight needs a producer of its own.
    const outcomes = await Promise.allSettled([0, 1, 2, 3].map((b) => publisher.publish(batch(b))))
    await publisher.close()
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'])
    const ids = (await readTopic(topic)).map((r) => r.headers[KafkaHeaders.messageId])
    expect(ids).toHaveLength(800)
    expect(new Set(ids).size).toBe(800)
  })

  it('batches sharing a key land in publish order even with several in flight', async () => {
    const topic = unique('relay-order')
    await createTopic(topic, 3)
    const publisher = createKafkaPublisher({ brokers: BROKERS, maxInFlight: 4 })
    const keys = 4
    // Every batch writes every key; a small first batch makes a later, larger one finish first if the
    // two were ever sent at once on different producers.
    const batch = (b: number) =>
      Array.from({ length: b % 2 === 0 ? 4 : 400 }, (_, i) => ({
        messageId: `b${b}-${i}`,
        topic,
        partitionKey: `key-${i % keys}`,
        type: 'Stepped',
        payload: { batch: b, i },
        headers: {},
      }))
    await Promise.all(Array.from({ length: 12 }, (_, b) => publisher.publish(batch(b))))
    await publisher.close()
    const records = await readTopic(topic)
    expect(records).toHaveLength(6 * 4 + 6 * 400)
    const seen = new Map<string, number[]>()
    for (const r of records) {
      const { batch: b, i } = JSON.parse(r.value ?? 'null') as { batch: number; i: number }
      seen.set(r.key ?? '', [...(seen.get(r.key ?? '') ?? []), b * 1000 + i])
    }
    for (const positions of seen.values()) expect(positions).toEqual([...positions].sort((x, y) => x - y))
  })

  it('maxInFlight must be a positive integer (a typed option error)', () => {
    expect(() => createKafkaPublisher({ brokers: BROKERS, maxInFlight: 0 })).toThrow(KafkaInvalidOptionError)
  })

  it('an unreachable broker is a PublishFailedError naming every message: the relay keeps them pending and retries', async () => {
    const schema = 'relay_down'
    const topic = unique('relay-down')
    const store = await setup(schema, topic)
    await store.appendToStream('acct-1', [{ type: 'Stepped', data: { seq: 1 } }], { expectedVersion: 'no-stream' })
    // Nothing listens on port 1: every request fails fast, as during a broker outage.
    const down = createKafkaPublisher({ brokers: '127.0.0.1:1', requestTimeoutMs: 1_000 })
    const error = await down
      .publish([{ messageId: 'm1', topic, partitionKey: 'k', type: 'Stepped', payload: {}, headers: {} }])
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PublishFailedError)
    expect((error as PublishFailedError).messageIds).toEqual(['m1'])
    const relay = createOutboxRelay({ pool: bed.db.pool, schema, publisher: down, publishTimeoutMs: 5_000 })
    expect(await relay.runOnce()).toMatchObject({ claimed: 1, published: 0, failed: 1 })
    expect(await getOutboxStatus({ pool: bed.db.pool, schema })).toMatchObject({ pending: 1 })
    await down.close()
    // The broker is back: the next attempt (after the relay's backoff) goes through.
    await createTopic(topic, 1)
    await bed.db.pool.query(`UPDATE ${schema}.outbox SET next_attempt_at = now()`)
    const up = createKafkaPublisher({ brokers: BROKERS })
    const again = createOutboxRelay({ pool: bed.db.pool, schema, publisher: up })
    expect(await again.runOnce()).toMatchObject({ published: 1 })
    await up.close()
    expect(await readTopic(topic)).toHaveLength(1)
  })

  it('three relays SIGKILLed at random (some between ack and marking), 10 keys x 100: per-key order, nothing lost, duplicates bounded, one effect each', async () => {
    const schema = 'relay_chaos'
    const topic = unique('relay-chaos')
    await createTopic(topic, 6)
    const store = await setup(schema, topic)
    const keys = Array.from({ length: 10 }, (_, i) => `acct-${i}`)
    const batchSize = 7
    const env = {
      DATABASE_URL: bed.db.connectionString,
      OUTBOX_SCHEMA: schema,
      BATCH_SIZE: String(batchSize),
      PUBLISH_DELAY_MS: '10',
      HANG_CHANCE: '0.05',
      WAIT_FOR_GO: '1',
    }
    // Loaded spares take over at once when a relay is killed (loading takes seconds on a busy machine).
    let producing = true
    let crashes = 0
    let hungKills = 0
    const loaded = (w: SpawnedProcess | undefined) => w?.lines.includes('LOADED') ?? false
    const ready = (w: SpawnedProcess | undefined) => w?.lines.includes('READY') ?? false
    const spares: SpawnedProcess[] = [0, 1, 2, 3].map(() => spawnWorker('relay-worker.ts', env))
    const workers: SpawnedProcess[] = []
    const go = async (): Promise<SpawnedProcess> => {
      await waitFor('a loaded spare relay', () => spares.some(loaded), 180_000)
      const i = spares.findIndex(loaded)
      const [w] = spares.splice(i, 1)
      if (!w) throw new Error('no spare')
      spares.push(spawnWorker('relay-worker.ts', crashes >= 6 ? { ...env, HANG_CHANCE: '0' } : env))
      w.child.kill('SIGUSR2')
      return w
    }
    for (let i = 0; i < 3; i++) workers.push(await go())
    const respawn = async (i: number) => {
      const victim = workers[i]
      if (!victim) return
      await victim.kill()
      crashes++
      workers[i] = await go()
    }
    const killHung = async () => {
      // A relay hanging between the broker's ack and its marking is killed right there.
      for (let i = 0; i < workers.length; i++) {
        if (workers[i]?.lines.some((l) => l.startsWith('ACKED'))) {
          hungKills++
          await respawn(i)
        }
      }
    }
    // Started relays take seconds to load on a busy machine; only running ones are killed.
    await waitFor('three relays started', () => workers.every(ready), 180_000)
    const chaos = (async () => {
      while (producing || crashes < 4) {
        await new Promise((r) => setTimeout(r, 400 + Math.random() * 600))
        await killHung()
        const up = workers.flatMap((w, i) => (ready(w) ? [i] : []))
        const victim = up[Math.floor(Math.random() * up.length)]
        if (crashes < 6 && victim !== undefined && Math.random() < 0.3) await respawn(victim)
      }
    })()
    try {
      // Ten writers, one per key, appending 5 events at a time while the relays crash around them.
      await Promise.all(
        keys.map(async (key) => {
          for (let seq = 1; seq <= 100; seq += 5) {
            const events = Array.from({ length: 5 }, (_, j) => ({ type: 'Stepped' as const, data: { seq: seq + j } }))
            await store.appendToStream(key, events, { expectedVersion: BigInt(seq - 1) })
            await new Promise((r) => setTimeout(r, 500 + Math.random() * 700))
          }
        }),
      )
      producing = false
      await chaos
      // Late hangs: keep killing until every row is marked sent.
      await waitFor(
        'every outbox row marked sent',
        async () => {
          await killHung()
          return (await getOutboxStatus({ pool: bed.db.pool, schema })).pending === 0
        },
        120_000,
      )
    } finally {
      producing = false
      crashes = Math.max(crashes, 4)
      await chaos.catch(() => undefined)
      await Promise.all([...workers, ...spares].map((w) => w.kill()))
    }
    expect(crashes).toBeGreaterThanOrEqual(4)

    const records = await readTopic(topic)
    const byKey = new Map<string, number[]>()
    const partitionOf = new Map<string, Set<number>>()
    for (const r of records) {
      const { key, seq } = JSON.parse(r.value ?? 'null') as { key: string; seq: number }
      expect(r.key).toBe(key)
      byKey.set(key, [...(byKey.get(key) ?? []), seq])
      partitionOf.set(key, (partitionOf.get(key) ?? new Set()).add(r.partition))
    }
    let duplicates = 0
    for (const key of keys) {
      expect(partitionOf.get(key)?.size).toBe(1)
      const seqs = byKey.get(key) ?? []
      // In topic order, a key only ever goes on with its next message or repeats ones it already sent
      // (a batch resent after a crash): it never skips ahead.
      let high = 0
      for (const seq of seqs) {
        if (seq <= high) duplicates++
        else {
          expect(seq).toBe(high + 1)
          high = seq
        }
      }
      expect(high).toBe(100)
    }
    expect(records.length).toBe(1000 + duplicates)
    // Each crash resends at most the one batch it held (pipelineDepth 1).
    expect(duplicates).toBeLessThanOrEqual(crashes * batchSize)

    // Through the inbox: one effect per message, every duplicate absorbed.
    const outcomes: KafkaConsumeOutcome[] = []
    const consumer = createKafkaConsumer({
      brokers: BROKERS,
      group: unique('relay-inbox'),
      topics: [topic],
      inbox: { pool: bed.db.pool, schema },
      maxWaitTimeMs: 100,
      onOutcome: (o) => outcomes.push(o),
      handlers: {
        Stepped: kafkaHandler(z.object({ key: z.string(), seq: z.number() }), async (m, tx) => {
          await tx.query(`INSERT INTO ${schema}.effects (message_id, key, seq) VALUES ($1, $2, $3)`, [
            m.messageId,
            m.payload.key,
            m.payload.seq,
          ])
        }),
      },
    })
    await consumer.start()
    try {
      await waitFor('every record consumed', () => outcomes.length === records.length, 60_000)
    } finally {
      await consumer.stop()
    }
    expect(outcomes.filter((o) => o === 'processed')).toHaveLength(1000)
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(duplicates)
    expect(hungKills).toBeGreaterThan(0)
    const effects = await bed.db.pool.query<{ n: number; d: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT message_id)::int AS d FROM ${schema}.effects`,
    )
    expect(effects.rows[0]).toEqual({ n: 1000, d: 1000 })
  }, 400_000)
})
