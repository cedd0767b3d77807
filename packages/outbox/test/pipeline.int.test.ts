import { randomUUID } from 'node:crypto'
import type { EventPublisher, OutboundMessage } from '@annals/core'
import { waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { PublishFailedError } from '../src/errors.js'
import { migrateOutbox } from '../src/migrate-outbox.js'
import { getOutboxStatus } from '../src/outbox-admin.js'
import { createRedisStreamsPublisher, streamKey } from '../src/redis-streams-publisher.js'
import { insertOutboxRows, readStream, relayTo, useTestbed } from './helpers.js'

const bed = useTestbed('pipeline')
let schemas = 0

async function fresh(): Promise<{ schema: string; keyPrefix: string }> {
  schemas += 1
  const schema = `pipeline_${schemas}`
  await migrateOutbox({ pool: bed.db.pool, schema })
  return { schema, keyPrefix: `${bed.keyPrefix}${schema}` }
}

function message(key: string, seq: number): OutboundMessage {
  return {
    messageId: randomUUID(),
    topic: 'orders',
    partitionKey: key,
    type: 'OrderPlaced',
    payload: { key, seq },
    headers: {},
  }
}

const seqOf = (m: OutboundMessage) => (m.payload as { seq: number }).seq
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms))

/** Per key, the seqs of the stream's entries in stream order, and every message id seen. */
async function streamed(keyPrefix: string): Promise<{ byKey: Map<string, number[]>; ids: string[] }> {
  const byKey = new Map<string, number[]>()
  const ids: string[] = []
  for (const { fields } of await readStream(bed.redis, streamKey(keyPrefix, 'orders'))) {
    const { key, seq } = JSON.parse(fields.payload ?? '{}') as { key: string; seq: number }
    byKey.set(key, [...(byKey.get(key) ?? []), seq])
    ids.push(fields.messageId ?? '')
  }
  return { byKey, ids }
}

async function statusBySeq(schema: string, key: string): Promise<{ seq: number; status: string; attempts: number }[]> {
  const { rows } = await bed.db.pool.query<{ seq: number; status: string; attempts: number }>(
    `SELECT (payload->>'seq')::int AS seq, status, attempts FROM ${schema}.outbox WHERE partition_key = $1 ORDER BY id`,
    [key],
  )
  return rows
}

describe('pipelined relay', () => {
  it('keeps up to pipelineDepth batches in flight at once, never more', async () => {
    const { schema, keyPrefix } = await fresh()
    const inner = createRedisStreamsPublisher({ redis: bed.redis, keyPrefix })
    let inFlight = 0
    let most = 0
    const slow: EventPublisher = {
      async publish(messages) {
        inFlight += 1
        most = Math.max(most, inFlight)
        await sleep(30)
        await inner.publish(messages)
        inFlight -= 1
      },
    }
    await insertOutboxRows(
      bed.db.pool,
      schema,
      Array.from({ length: 120 }, (_, i) => message(`k${i % 40}`, Math.floor(i / 40) + 1)),
    )
    const relay = relayTo(bed, keyPrefix, { schema, publisher: slow, batchSize: 10, pipelineDepth: 3 })
    await relay.start()
    try {
      await waitFor(
        'the relay to drain',
        async () => (await getOutboxStatus({ pool: bed.db.pool, schema })).pending === 0,
      )
    } finally {
      await relay.stop()
    }
    expect(most).toBe(3)
  })

  it('keeps order per key and publishes every row once with several pipelined relays', async () => {
    const { schema, keyPrefix } = await fresh()
    const keys = Array.from({ length: 12 }, (_, i) => `agg-${i}`)
    const inner = createRedisStreamsPublisher({ redis: bed.redis, keyPrefix })
    // Random latency lets a batch claimed later finish earlier, in the same relay and across relays:
    // exactly what would reorder a key, or publish a row twice, if two batches could hold one key.
    const jittery: EventPublisher = {
      async publish(messages) {
        await sleep(Math.random() * 12)
        await inner.publish(messages)
      },
    }
    const relays = Array.from({ length: 3 }, () =>
      relayTo(bed, keyPrefix, { schema, publisher: jittery, batchSize: 6, pipelineDepth: 4, pollIntervalMs: 5 }),
    )
    for (const relay of relays) await relay.start()
    try {
      for (let seq = 1; seq <= 30; seq++) {
        await insertOutboxRows(
          bed.db.pool,
          schema,
          keys.map((k) => message(k, seq)),
        )
        if (seq % 6 === 0) await sleep(10)
      }
      await waitFor(
        'the relays to drain',
        async () => (await getOutboxStatus({ pool: bed.db.pool, schema })).pending === 0,
        30_000,
      )
    } finally {
      await Promise.all(relays.map((relay) => relay.stop()))
    }
    const { byKey, ids } = await streamed(keyPrefix)
    for (const k of keys) expect(byKey.get(k), k).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('marks no later message of a key sent, in a later in-flight batch, while an earlier one has failed', async () => {
    const { schema, keyPrefix } = await fresh()
    const inner = createRedisStreamsPublisher({ redis: bed.redis, keyPrefix })
    const refused: EventPublisher = {
      async publish(messages) {
        await sleep(5)
        if (messages.some((m) => m.partitionKey === 'bad' && seqOf(m) === 1)) throw new Error('broker refuses bad/1')
        await inner.publish(messages)
      },
    }
    // One row per key per batch: bad/2.. can only travel in later batches, which are claimed while the
    // batch holding bad/1 is still publishing.
    const rows: OutboundMessage[] = []
    for (let seq = 1; seq <= 5; seq++)
      for (let k = 0; k < 8; k++) rows.push(message(k === 0 ? 'bad' : `good-${k}`, seq))
    await insertOutboxRows(bed.db.pool, schema, rows)
    const relay = relayTo(bed, keyPrefix, {
      schema,
      publisher: refused,
      batchSize: 8,
      pipelineDepth: 3,
      pollIntervalMs: 5,
      backoff: { initialDelayMs: 60_000, maxDelayMs: 60_000, jitter: 'none' },
    })
    await relay.start()
    try {
      await waitFor(
        'the good keys to drain',
        async () => (await getOutboxStatus({ pool: bed.db.pool, schema })).pending === 5,
      )
      await sleep(100)
    } finally {
      await relay.stop()
    }
    expect(await statusBySeq(schema, 'bad')).toEqual([
      { seq: 1, status: 'pending', attempts: 1 },
      ...[2, 3, 4, 5].map((seq) => ({ seq, status: 'pending', attempts: 0 })),
    ])
    expect((await streamed(keyPrefix)).byKey.get('bad')).toBeUndefined()
  })

  it('marks no later message of a key sent in the same batch when the publisher names the failed one', async () => {
    const { schema, keyPrefix } = await fresh()
    const inner = createRedisStreamsPublisher({ redis: bed.redis, keyPrefix })
    // Like a Redis pipeline in which one XADD fails: the others went through, and the error names it.
    const partial: EventPublisher = {
      async publish(messages) {
        const bad = messages.filter((m) => m.partitionKey === 'bad' && seqOf(m) === 1)
        await inner.publish(messages.filter((m) => !bad.includes(m)))
        if (bad.length > 0)
          throw new PublishFailedError(
            bad.map((m) => m.messageId),
            'XADD refused',
          )
      },
    }
    await insertOutboxRows(bed.db.pool, schema, [
      message('bad', 1),
      message('good', 1),
      message('bad', 2),
      message('good', 2),
    ])
    const relay = relayTo(bed, keyPrefix, {
      schema,
      publisher: partial,
      backoff: { initialDelayMs: 60_000, maxDelayMs: 60_000, jitter: 'none' },
    })
    expect(await relay.runOnce()).toEqual({ claimed: 4, published: 2, failed: 1, dead: 0 })
    expect(await statusBySeq(schema, 'bad')).toEqual([
      { seq: 1, status: 'pending', attempts: 1 },
      { seq: 2, status: 'pending', attempts: 0 },
    ])
    expect(await statusBySeq(schema, 'good')).toEqual([
      { seq: 1, status: 'sent', attempts: 0 },
      { seq: 2, status: 'sent', attempts: 0 },
    ])
  })

  it('stop() waits for the batches in flight to be published and committed', async () => {
    const { schema, keyPrefix } = await fresh()
    const inner = createRedisStreamsPublisher({ redis: bed.redis, keyPrefix })
    // Each publish call waits for its own release, so that the batches finish one at a time.
    const gates: (() => void)[] = []
    const held: EventPublisher = {
      async publish(messages) {
        await new Promise<void>((res) => gates.push(res))
        await inner.publish(messages)
      },
    }
    await insertOutboxRows(
      bed.db.pool,
      schema,
      Array.from({ length: 20 }, (_, i) => message(`k${i}`, 1)),
    )
    const relay = relayTo(bed, keyPrefix, { schema, publisher: held, batchSize: 10, pipelineDepth: 2 })
    await relay.start()
    await waitFor('two batches in flight', async () => gates.length === 2)
    let stopped = false
    const stopping = relay.stop().then(() => {
      stopped = true
    })
    gates[0]?.()
    // The first batch is done and the loop has seen the stop; the second still publishes.
    await sleep(150)
    expect(stopped).toBe(false)
    gates[1]?.()
    await stopping
    expect(await getOutboxStatus({ pool: bed.db.pool, schema })).toMatchObject({ pending: 0, sentRetained: 20 })
    expect(await bed.redis.xlen(streamKey(keyPrefix, 'orders'))).toBe(20)
    const { rows } = await bed.db.pool.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
    )
    expect(rows).toEqual([])
  })
})
