import { randomUUID } from 'node:crypto'
import type { EventPublisher, LogWatcher, OutboundMessage } from '@annals/core'
import { withTransaction } from '@annals/store-postgres/sql'
import { waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { migrateOutbox } from '../src/migrate-outbox.js'
import { cleanupSentMessages, getOutboxStatus, listDeadMessages, retryDeadMessages } from '../src/outbox-admin.js'
import { createRedisStreamsPublisher, streamKey } from '../src/redis-streams-publisher.js'
import { insertOutboxRows, keySeqs, readStream, relayTo, useTestbed } from './helpers.js'

const bed = useTestbed('relay')
let schemas = 0

/** A fresh schema (own outbox) and Redis prefix for one test. */
async function fresh(): Promise<{ schema: string; keyPrefix: string }> {
  schemas += 1
  const schema = `relay_${schemas}`
  await migrateOutbox({ pool: bed.db.pool, schema })
  return { schema, keyPrefix: `${bed.keyPrefix}${schema}` }
}

function message(key: string, seq: number, topic = 'orders', extra: Record<string, unknown> = {}): OutboundMessage {
  return {
    messageId: randomUUID(),
    topic,
    partitionKey: key,
    type: 'OrderPlaced',
    payload: { key, seq, ...extra },
    headers: { 'annals-stream-id': key },
  }
}

async function drain(relay: { runOnce(): Promise<{ claimed: number }> }, max = 1000): Promise<void> {
  for (let i = 0; i < max; i++) if ((await relay.runOnce()).claimed === 0) return
}

describe('outbox table', () => {
  it('accepts an insert of only the columns the event store writes; the rest has defaults', async () => {
    const { schema } = await fresh()
    await insertOutboxRows(bed.db.pool, schema, [message('a', 1)])
    const { rows } = await bed.db.pool.query(
      `SELECT status, attempts, next_attempt_at IS NOT NULL AS has_next, created_at IS NOT NULL AS has_created, id
         FROM ${schema}.outbox`,
    )
    expect(rows).toEqual([{ status: 'pending', attempts: 0, has_next: true, has_created: true, id: '1' }])
  })

  it('migrates idempotently and rejects unsafe schema names and prefixes', async () => {
    const { schema } = await fresh()
    expect((await migrateOutbox({ pool: bed.db.pool, schema })).applied).toEqual([])
    await expect(migrateOutbox({ pool: bed.db.pool, schema: 'x"; drop table y; --' })).rejects.toMatchObject({
      code: 'ANNALS_PG_ERR_INVALID_IDENTIFIER',
    })
    await expect(migrateOutbox({ pool: bed.db.pool, schema, tablePrefix: 'A-' })).rejects.toMatchObject({
      code: 'ANNALS_PG_ERR_INVALID_IDENTIFIER',
    })
    expect((await migrateOutbox({ pool: bed.db.pool, schema, tablePrefix: 'tenant2_' })).applied).toEqual([
      '0001-outbox',
      '0002-tenancy',
    ])
    const { rows } = await bed.db.pool.query(`SELECT count(*)::int AS n FROM ${schema}.tenant2_outbox`)
    expect(rows[0].n).toBe(0)
  })
})

describe('outbox relay', () => {
  it('publishes rows to one stream per topic with id, key, type and headers as fields, then marks them sent', async () => {
    const { schema, keyPrefix } = await fresh()
    const a = message('order-1', 1)
    const b = message('cust-9', 1, 'customers')
    await insertOutboxRows(bed.db.pool, schema, [a, b])
    const relay = relayTo(bed, keyPrefix, { schema })
    expect(await relay.runOnce()).toEqual({ claimed: 2, published: 2, failed: 0, dead: 0 })
    const orders = await readStream(bed.redis, streamKey(keyPrefix, 'orders'))
    // The payload is the stored jsonb's own text (passed through unparsed), so compare it as JSON.
    expect(orders.map((e) => ({ ...e.fields, payload: JSON.parse(e.fields.payload ?? 'null') }))).toEqual([
      {
        messageId: a.messageId,
        type: 'OrderPlaced',
        partitionKey: 'order-1',
        headers: JSON.stringify(a.headers),
        payload: a.payload,
      },
    ])
    expect((await readStream(bed.redis, streamKey(keyPrefix, 'customers')))[0]?.fields.messageId).toBe(b.messageId)
    const { rows } = await bed.db.pool.query(`SELECT status, sent_at IS NOT NULL AS sent FROM ${schema}.outbox`)
    expect(rows).toEqual([
      { status: 'sent', sent: true },
      { status: 'sent', sent: true },
    ])
    expect(await relay.runOnce()).toMatchObject({ claimed: 0 })
  })

  it('publishes nothing for rows written by a transaction that rolled back', async () => {
    const { schema, keyPrefix } = await fresh()
    await expect(
      withTransaction(bed.db.pool, async (tx) => {
        await insertOutboxRows(tx, schema, [message('order-rolled-back', 1)])
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    await insertOutboxRows(bed.db.pool, schema, [message('order-committed', 1)])
    const relay = relayTo(bed, keyPrefix, { schema })
    await drain(relay)
    const entries = await readStream(bed.redis, streamKey(keyPrefix, 'orders'))
    expect(entries.map((e) => e.fields.partitionKey)).toEqual(['order-committed'])
  })

  it('keeps order per partition key when several relays publish at once', async () => {
    const { schema, keyPrefix } = await fresh()
    const keys = Array.from({ length: 8 }, (_, i) => `agg-${i}`)
    const inner = createRedisStreamsPublisher({ redis: bed.redis, keyPrefix })
    // Random latency per call lets a relay that claimed later finish earlier: exactly what would
    // reorder a key if two relays could hold rows of the same key.
    const slow: EventPublisher = {
      async publish(messages) {
        await new Promise((res) => setTimeout(res, Math.random() * 15))
        await inner.publish(messages)
      },
    }
    const relays = Array.from({ length: 4 }, () =>
      relayTo(bed, keyPrefix, { schema, publisher: slow, batchSize: 5, pollIntervalMs: 5 }),
    )
    for (const relay of relays) await relay.start()
    try {
      for (let seq = 1; seq <= 40; seq++) {
        await insertOutboxRows(
          bed.db.pool,
          schema,
          keys.map((k) => message(k, seq)),
        )
        if (seq % 5 === 0) await new Promise((res) => setTimeout(res, 10))
      }
      await waitFor(
        'the relays to drain',
        async () => (await getOutboxStatus({ pool: bed.db.pool, schema })).pending === 0,
        30_000,
      )
    } finally {
      await Promise.all(relays.map((relay) => relay.stop()))
    }
    const seen = new Map<string, number[]>()
    for (const entry of await keySeqs(bed.redis, streamKey(keyPrefix, 'orders'))) {
      const [key = '', seq] = entry.split('/')
      seen.set(key, [...(seen.get(key) ?? []), Number(seq)])
    }
    for (const k of keys) expect(seen.get(k), k).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
  })

  it('retries with backoff, parks a poison message as dead, holds its key, lets other keys flow, and delivers in order after a retry', async () => {
    const { schema, keyPrefix } = await fresh()
    const inner = createRedisStreamsPublisher({ redis: bed.redis, keyPrefix })
    let fixed = false
    let calls = 0
    const picky: EventPublisher = {
      async publish(messages) {
        calls += 1
        if (!fixed && messages.some((m) => (m.payload as { poison?: boolean }).poison)) {
          throw new Error('broker rejects this payload')
        }
        await inner.publish(messages)
      },
    }
    const relay = relayTo(bed, keyPrefix, {
      schema,
      publisher: picky,
      maxAttempts: 3,
      backoff: { initialDelayMs: 5000, maxDelayMs: 5000, jitter: 'none' },
    })
    await insertOutboxRows(bed.db.pool, schema, [
      message('bad', 1, 'orders', { poison: true }),
      message('good', 1),
      message('bad', 2),
      message('good', 2),
    ])
    // First attempt: the batch fails as a whole, then message by message: only the poison one fails
    // and "bad"/2 behind it is not even tried.
    expect(await relay.runOnce()).toEqual({ claimed: 4, published: 2, failed: 1, dead: 0 })
    // Backoff: an immediate second run finds nothing due for "bad", and "bad"/2 waits behind it.
    expect(await relay.runOnce()).toMatchObject({ claimed: 0 })
    const { rows: afterFirst } = await bed.db.pool.query(
      `SELECT attempts, next_attempt_at >= last_attempt_at + interval '5 seconds' AS later, last_error
         FROM ${schema}.outbox WHERE partition_key = 'bad' ORDER BY id`,
    )
    expect(afterFirst[0]).toMatchObject({ attempts: 1, later: true, last_error: 'Error: broker rejects this payload' })
    expect(afterFirst[1]).toMatchObject({ attempts: 0 })
    // Time passes (the backoff is over) twice more: the third failure makes it dead.
    for (let i = 0; i < 2; i++) {
      await bed.db.pool.query(`UPDATE ${schema}.outbox SET next_attempt_at = now() WHERE status = 'pending'`)
      await relay.runOnce()
    }
    const dead = await listDeadMessages({ pool: bed.db.pool, schema })
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ partitionKey: 'bad', attempts: 3, lastError: 'Error: broker rejects this payload' })
    // Other keys keep flowing while "bad" is dead.
    await insertOutboxRows(bed.db.pool, schema, [message('good', 3), message('bad', 3)])
    const callsBefore = calls
    await drain(relay)
    expect(calls).toBeGreaterThan(callsBefore)
    let status = await getOutboxStatus({ pool: bed.db.pool, schema })
    expect(status).toMatchObject({ pending: 2, dead: 1 })
    expect(await keySeqs(bed.redis, streamKey(keyPrefix, 'orders'))).toEqual(['good/1', 'good/2', 'good/3'])
    // The fix ships; the operator retries: the dead message goes first, then the ones behind it.
    fixed = true
    expect(await retryDeadMessages({ pool: bed.db.pool, schema, messageIds: [dead[0]?.messageId ?? ''] })).toEqual({
      retried: 1,
    })
    await drain(relay)
    expect(await keySeqs(bed.redis, streamKey(keyPrefix, 'orders'))).toEqual([
      'good/1',
      'good/2',
      'good/3',
      'bad/1',
      'bad/2',
      'bad/3',
    ])
    status = await getOutboxStatus({ pool: bed.db.pool, schema })
    expect(status).toMatchObject({ pending: 0, dead: 0, oldestPendingAgeMs: null })
  })

  it('reports backlog, oldest pending age and dead count, and cleans up published rows after the retention', async () => {
    const { schema, keyPrefix } = await fresh()
    await insertOutboxRows(bed.db.pool, schema, [message('k1', 1), message('k2', 1)])
    await bed.db.pool.query(
      `UPDATE ${schema}.outbox SET created_at = now() - interval '5 minutes' WHERE partition_key = 'k1'`,
    )
    const before = await getOutboxStatus({ pool: bed.db.pool, schema })
    expect(before).toMatchObject({ pending: 2, dead: 0, sentRetained: 0 })
    expect(before.oldestPendingAgeMs).toBeGreaterThanOrEqual(299_000)
    const relay = relayTo(bed, keyPrefix, { schema })
    await drain(relay)
    expect(await getOutboxStatus({ pool: bed.db.pool, schema })).toMatchObject({ pending: 0, sentRetained: 2 })
    expect(await cleanupSentMessages({ pool: bed.db.pool, schema, olderThanMs: 60_000 })).toEqual({ deleted: 0 })
    await bed.db.pool.query(
      `UPDATE ${schema}.outbox SET sent_at = now() - interval '2 minutes' WHERE partition_key = 'k1'`,
    )
    expect(await cleanupSentMessages({ pool: bed.db.pool, schema, olderThanMs: 60_000 })).toEqual({ deleted: 1 })
    expect(await getOutboxStatus({ pool: bed.db.pool, schema })).toMatchObject({ sentRetained: 1 })
  })

  it('deletes published rows in its own loop once the retention has passed, so the table stays bounded', async () => {
    const { schema, keyPrefix } = await fresh()
    const relay = relayTo(bed, keyPrefix, {
      schema,
      pollIntervalMs: 10,
      retentionMs: 0,
      cleanupIntervalMs: 0,
    })
    await relay.start()
    try {
      for (let round = 0; round < 3; round++) {
        await insertOutboxRows(
          bed.db.pool,
          schema,
          Array.from({ length: 50 }, (_, i) => message(`k${i % 5}`, round * 50 + i)),
        )
        await new Promise((res) => setTimeout(res, 100))
      }
      await waitFor(
        'the cleanup',
        async () => (await bed.db.pool.query(`SELECT 1 FROM ${schema}.outbox LIMIT 1`)).rowCount === 0,
        20_000,
      )
    } finally {
      await relay.stop()
    }
    const { rows } = await bed.db.pool.query(`SELECT count(*)::int AS n FROM ${schema}.outbox`)
    expect(rows[0].n).toBe(0)
    expect(await bed.redis.xlen(streamKey(keyPrefix, 'orders'))).toBe(150)
  })

  it('with retentionMs 0 deletes what it published in the same transaction, and still holds a failed key', async () => {
    const { schema, keyPrefix } = await fresh()
    const inner = createRedisStreamsPublisher({ redis: bed.redis, keyPrefix })
    const refusing: EventPublisher = {
      async publish(messages) {
        if (messages.some((m) => (m.payload as { poison?: boolean }).poison)) throw new Error('refused')
        await inner.publish(messages)
      },
    }
    await insertOutboxRows(bed.db.pool, schema, [
      message('a', 1),
      message('b', 1, 'orders', { poison: true }),
      message('a', 2),
      message('b', 2),
    ])
    const relay = relayTo(bed, keyPrefix, {
      schema,
      publisher: refusing,
      retentionMs: 0,
      backoff: { initialDelayMs: 60_000, maxDelayMs: 60_000, jitter: 'none' },
    })
    expect(await relay.runOnce()).toEqual({ claimed: 4, published: 2, failed: 1, dead: 0 })
    const { rows } = await bed.db.pool.query(`SELECT partition_key, status, attempts FROM ${schema}.outbox ORDER BY id`)
    expect(rows).toEqual([
      { partition_key: 'b', status: 'pending', attempts: 1 },
      { partition_key: 'b', status: 'pending', attempts: 0 },
    ])
    expect(await keySeqs(bed.redis, streamKey(keyPrefix, 'orders'))).toEqual(['a/1', 'a/2'])
  })

  it('counts a publisher that never answers as a failed attempt (publish timeout)', async () => {
    const { schema } = await fresh()
    await insertOutboxRows(bed.db.pool, schema, [message('k', 1)])
    const relay = relayTo(bed, '', {
      schema,
      publisher: { publish: () => new Promise<void>(() => undefined) },
      publishTimeoutMs: 100,
    })
    expect(await relay.runOnce()).toMatchObject({ published: 0, failed: 1 })
    const { rows } = await bed.db.pool.query(`SELECT status, attempts, last_error FROM ${schema}.outbox`)
    expect(rows).toEqual([
      {
        status: 'pending',
        attempts: 1,
        last_error: 'PublishTimeoutError: The publisher did not acknowledge within 100 ms',
      },
    ])
  })

  it('wakes up when its log watcher fires instead of waiting for the next poll, and lets go of it when stopped', async () => {
    const { schema, keyPrefix } = await fresh()
    const listeners = new Set<() => void>()
    const watcher: LogWatcher = {
      onWake(listener) {
        listeners.add(listener)
        return () => listeners.delete(listener)
      },
      close: async () => undefined,
    }
    const relay = relayTo(bed, keyPrefix, { schema, pollIntervalMs: 600_000, watcher })
    await relay.start()
    try {
      expect(listeners.size).toBe(1)
      // After its first empty poll the loop sleeps for ten minutes: only the watcher can wake it.
      await new Promise((res) => setTimeout(res, 300))
      await insertOutboxRows(bed.db.pool, schema, [message('woken', 1)])
      await new Promise((res) => setTimeout(res, 300))
      expect(await bed.redis.xlen(streamKey(keyPrefix, 'orders'))).toBe(0)
      for (const wake of listeners) wake()
      await waitFor('the wake-up', async () => (await bed.redis.xlen(streamKey(keyPrefix, 'orders'))) === 1, 20_000)
    } finally {
      await relay.stop()
    }
    expect(listeners.size).toBe(0)
  })

  it('refuses a second start, and whenStopped() resolves once stop() has finished', async () => {
    const { schema, keyPrefix } = await fresh()
    const relay = relayTo(bed, keyPrefix, { schema, pollIntervalMs: 10 })
    await relay.start()
    await expect(relay.start()).rejects.toMatchObject({ code: 'ANNALS_OUTBOX_ERR_ALREADY_STARTED' })
    let stopped = false
    const whenStopped = relay.whenStopped().then(() => {
      stopped = true
    })
    await new Promise((res) => setTimeout(res, 50))
    expect(stopped).toBe(false)
    await relay.stop()
    await whenStopped
    expect(stopped).toBe(true)
    // A stopped relay can start again.
    await relay.start()
    await relay.stop()
  })
})
