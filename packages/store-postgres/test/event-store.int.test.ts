import { randomUUID } from 'node:crypto'
import { isAnnalsError, type RecordedEvent } from '@annals/core'
import { beforeAll, describe, expect, it } from 'vitest'
import { createPostgresEventStore, type PostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { migrate } from '../src/migrate.js'
import { outboxMessageId } from '../src/outbox/outbox-message-id.js'
import { useStoreTestbed } from './fixtures/store-testbed.js'

const schema = 'es'
const bed = useStoreTestbed({ schema, poolSize: 24 })

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    return String((error as { code?: unknown }).code)
  }
  return 'resolved'
}

async function count(sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await bed.db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${sql}`, values)
  return Number(rows[0]?.n)
}

describe('concurrency', () => {
  it('lets exactly one of 20 writers racing on one expected version win; 19 get typed conflicts', async () => {
    const id = `race-${randomUUID()}`
    await bed.store.appendToStream(id, [
      { type: 'Opened', data: {} },
      { type: 'Step', data: {} },
    ])
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, n) =>
        bed.store.appendToStream(id, [{ type: 'Raced', data: { n } }], { expectedVersion: 2n }),
      ),
    )
    const won = results.filter((r) => r.status === 'fulfilled')
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(19)
    for (const error of lost) {
      expect(isAnnalsError(error, 'ANNALS_ERR_CONCURRENCY')).toBe(true)
      expect((error as { expected: bigint }).expected).toBe(2n)
      expect((error as { actual: bigint }).actual).toBe(3n)
    }
    expect((await bed.store.readStream(id)).currentVersion).toBe(3n)
  })

  it('does not deadlock when multi-stream appends name the same streams in opposite orders', async () => {
    const a = `dl-a-${randomUUID()}`
    const b = `dl-b-${randomUUID()}`
    await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        bed.store.appendToStreams(
          n % 2
            ? [
                { streamId: a, events: [{ type: 'X', data: { n } }] },
                { streamId: b, events: [{ type: 'X', data: { n } }] },
              ]
            : [
                { streamId: b, events: [{ type: 'X', data: { n } }] },
                { streamId: a, events: [{ type: 'X', data: { n } }] },
              ],
        ),
      ),
    )
    expect((await bed.store.readStream(a)).currentVersion).toBe(20n)
    expect((await bed.store.readStream(b)).currentVersion).toBe(20n)
  })
})

describe('bad input and limits', () => {
  it('rejects U+0000 in a stream id, type, data or metadata with ValidationError, writing nothing', async () => {
    const id = `nul-${randomUUID()}`
    const before = await count(`"es".events`)
    expect(await codeOf(bed.store.appendToStream(`${id}\u0000x`, [{ type: 'A', data: {} }]))).toBe(
      'ANNALS_ERR_VALIDATION',
    )
    expect(await codeOf(bed.store.appendToStream(id, [{ type: 'A\u0000', data: {} }]))).toBe('ANNALS_ERR_VALIDATION')
    expect(await codeOf(bed.store.appendToStream(id, [{ type: 'A', data: { s: 'a\u0000b' } }]))).toBe(
      'ANNALS_ERR_VALIDATION',
    )
    expect(await codeOf(bed.store.appendToStream(id, [{ type: 'A', data: { 'k\u0000': 1 } }]))).toBe(
      'ANNALS_ERR_VALIDATION',
    )
    expect(
      await codeOf(bed.store.appendToStream(id, [{ type: 'A', data: {}, metadata: { note: ['x', '\u0000'] } }])),
    ).toBe('ANNALS_ERR_VALIDATION')
    // The second stream of an atomic append is bad: the first is not written either.
    expect(
      await codeOf(
        bed.store.appendToStreams([
          { streamId: id, events: [{ type: 'Fine', data: {} }] },
          { streamId: `${id}-2`, events: [{ type: 'A', data: '\u0000' }] },
        ]),
      ),
    ).toBe('ANNALS_ERR_VALIDATION')
    expect(await count(`"es".events`)).toBe(before)
    // A backslash followed by "u0000" is ordinary text, not a NUL.
    await bed.store.appendToStream(id, [{ type: 'A', data: { s: '\\u0000' } }])
    expect((await bed.store.readStream(id)).events[0]?.data).toEqual({ s: '\\u0000' })
  })

  it('caps events and bytes per append with ANNALS_ERR_APPEND_LIMIT_EXCEEDED', async () => {
    const small = createPostgresEventStore({
      pool: bed.db.pool,
      schema,
      limits: { maxEventsPerAppend: 3, maxBytesPerAppend: 1000 },
    })
    const id = `limit-${randomUUID()}`
    const four = Array.from({ length: 4 }, () => ({ type: 'E', data: {} }))
    expect(await codeOf(small.appendToStream(id, four))).toBe('ANNALS_ERR_APPEND_LIMIT_EXCEEDED')
    expect(await codeOf(small.appendToStream(id, [{ type: 'E', data: { s: 'é'.repeat(600) } }]))).toBe(
      'ANNALS_ERR_APPEND_LIMIT_EXCEEDED',
    )
    expect(
      await codeOf(
        small.appendToStreams([
          { streamId: id, events: four.slice(0, 2) },
          { streamId: `${id}-b`, events: four.slice(0, 2) },
        ]),
      ),
    ).toBe('ANNALS_ERR_APPEND_LIMIT_EXCEEDED')
    expect((await small.readStream(id)).streamExists).toBe(false)
    await small.appendToStream(id, four.slice(0, 3))
    expect((await small.readStream(id)).currentVersion).toBe(3n)
  })

  it('rejects the same event id twice in one append', async () => {
    const eventId = randomUUID()
    expect(
      await codeOf(
        bed.store.appendToStream(`dup-${randomUUID()}`, [
          { type: 'A', data: {}, eventId },
          { type: 'A', data: {}, eventId },
        ]),
      ),
    ).toBe('ANNALS_ERR_DUPLICATE_EVENT_ID')
  })

  it('reports a missing migration as ANNALS_PG_ERR_NOT_MIGRATED', async () => {
    const bare = createPostgresEventStore({ pool: bed.db.pool, schema: 'never_migrated' })
    expect(await codeOf(bare.appendToStream('x', [{ type: 'A', data: {} }]))).toBe('ANNALS_PG_ERR_NOT_MIGRATED')
    expect(await codeOf(bare.readAll())).toBe('ANNALS_PG_ERR_NOT_MIGRATED')
  })
})

describe('index-backed log reads', () => {
  beforeAll(async () => {
    // A log of realistic size (the planner picks sequential scans and sorts on tiny tables).
    await bed.db.pool.query(`INSERT INTO "es".events (event_id, stream_id, stream_version, type, data)
      SELECT gen_random_uuid(), 'bulk-' || (g / 10), g % 10 + 1, 'T' || (g % 1000), '{}'
      FROM generate_series(0, 99999) AS g`)
    await bed.db.pool.query('ANALYZE "es".events')
  })

  async function plan(sql: string, values: unknown[]): Promise<string> {
    const { rows } = await bed.db.pool.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${sql}`, values)
    return JSON.stringify(rows[0]?.['QUERY PLAN'])
  }

  async function storeSql(options: Parameters<PostgresEventStore['readAll']>[0]): Promise<string> {
    const captured: string[] = []
    const spy = createPostgresEventStore({
      pool: {
        query: (config: { text: string; values: unknown[] }) => {
          captured.push(config.text)
          return bed.db.pool.query(config)
        },
      } as unknown as import('pg').Pool,
      schema,
    })
    await spy.readAll(options)
    return captured[0] as string
  }

  type PlanNode = { 'Node Type': string; 'Index Name'?: string; Plans?: PlanNode[] }
  function nodes(node: PlanNode): PlanNode[] {
    return [node, ...(node.Plans ?? []).flatMap(nodes)]
  }
  function sortsOnlyAboveLimits(node: PlanNode): boolean {
    if (node['Node Type'] === 'Sort') {
      // A sort is fine only over rows already cut down by a per-type LIMIT, never over the table.
      return (
        nodes(node).some((n) => n['Node Type'] === 'Limit') && !nodes(node).some((n) => n['Node Type'] === 'Seq Scan')
      )
    }
    return (node.Plans ?? []).every(sortsOnlyAboveLimits)
  }

  it('reads the whole log through the (transaction_id, global_position) index, with no sort', async () => {
    const text = await plan(await storeSql({ limit: 1000 }), ['0', '0', 1000, 'default'])
    const root = (JSON.parse(text) as { Plan: PlanNode }[])[0]?.Plan as PlanNode
    const all = nodes(root)
    // The default tenant's log: the log order itself, or the tenant's slice of it (same order).
    const logIndexes = ['events_log_pkey', 'events_tenant_log_idx']
    expect(all.some((n) => n['Node Type'] === 'Index Scan' && logIndexes.includes(n['Index Name'] ?? ''))).toBe(true)
    expect(all.some((n) => n['Node Type'] === 'Sort' || n['Node Type'] === 'Seq Scan')).toBe(false)
  })

  it('reads by type through the (type, transaction_id, global_position) index; any sort is over limited rows', async () => {
    const text = await plan(await storeSql({ types: ['T1', 'T2'], limit: 10 }), ['0', '0', 10, ['T1', 'T2'], 'default'])
    const root = (JSON.parse(text) as { Plan: PlanNode }[])[0]?.Plan as PlanNode
    const all = nodes(root)
    expect(
      all.some(
        (n) =>
          (n['Node Type'] === 'Index Scan' || n['Node Type'] === 'Index Only Scan') &&
          n['Index Name'] === 'events_type_log_idx',
      ),
    ).toBe(true)
    expect(all.some((n) => n['Node Type'] === 'Seq Scan')).toBe(false)
    expect(sortsOnlyAboveLimits(root)).toBe(true)
  })
})

describe('countEvents', () => {
  it('counts events after a checkpoint, of some types, up to a cap', async () => {
    await migrate({ pool: bed.db.pool, schema: 'counted' })
    const counted = createPostgresEventStore({ pool: bed.db.pool, schema: 'counted' })
    expect(await counted.countEvents()).toBe(0)
    const [first] = await counted.appendToStreams([
      {
        streamId: 'a',
        events: [
          { type: 'Opened', data: {} },
          { type: 'Noted', data: {} },
        ],
      },
    ])
    await counted.appendToStream('b', [
      { type: 'Opened', data: {} },
      { type: 'Closed', data: {} },
      { type: 'Noted', data: {} },
    ])
    const opened = first?.events[0] as RecordedEvent
    const after = { transactionId: opened.transactionId, position: opened.globalPosition }
    expect(await counted.countEvents()).toBe(5)
    expect(await counted.countEvents({ types: ['Opened', 'Closed'] })).toBe(3)
    expect(await counted.countEvents({ types: [] })).toBe(0)
    expect(await counted.countEvents({ after })).toBe(4)
    expect(await counted.countEvents({ after, types: ['Opened'] })).toBe(1)
    expect(await counted.countEvents({ limit: 2 })).toBe(2)
    expect(await codeOf(counted.countEvents({ limit: -1 }))).toBe('ANNALS_ERR_INVALID_ARGUMENT')
    expect(await codeOf(counted.countEvents({ after: { transactionId: -1n, position: 0n } }))).toBe(
      'ANNALS_ERR_INVALID_ARGUMENT',
    )
  })
})

describe('outbox rows in the append', () => {
  it('writes one row per message in the same statement, and none for a failed append', async () => {
    await bed.db.pool.query(`CREATE TABLE "es".outbox (message_id uuid NOT NULL, topic text NOT NULL,
      partition_key text NOT NULL, type text NOT NULL, payload jsonb NOT NULL, headers jsonb NOT NULL,
      event_id uuid, event_position bigint, id bigint GENERATED ALWAYS AS IDENTITY)`)
    const withOutbox = createPostgresEventStore({
      pool: bed.db.pool,
      schema,
      outbox: {
        publish: (event) =>
          event.type === 'Placed'
            ? [{ topic: 'orders', headers: { 'annals-global-position': '0', 'annals-stream-version': '0' } }]
            : event.type === 'Shipped'
              ? [
                  { topic: 'orders', payload: { shipped: true } },
                  { topic: 'audit', partitionKey: 'all', type: 'audit.shipped' },
                ]
              : [],
      },
    })
    const id = `order-${randomUUID()}`
    const correlationId = randomUUID()
    const result = await withOutbox.appendToStream(id, [
      { type: 'Placed', data: { total: 5 }, metadata: { correlationId } },
      { type: 'Noted', data: {} },
      { type: 'Shipped', data: { by: 'post' } },
    ])
    const { rows } = await bed.db.pool.query(
      `SELECT message_id::text, topic, partition_key, type, payload, headers, event_id::text, event_position::text
       FROM "es".outbox ORDER BY id`,
    )
    const [placed, noted, shipped] = result.events as RecordedEvent[]
    expect(noted).toBeDefined()
    expect(rows).toHaveLength(3)
    expect(rows[0]).toEqual({
      message_id: placed?.eventId,
      topic: 'orders',
      partition_key: id,
      type: 'Placed',
      payload: { total: 5 },
      headers: {
        'correlation-id': correlationId,
        'annals-global-position': placed?.globalPosition.toString(),
        'annals-stream-version': '1',
      },
      event_id: placed?.eventId,
      event_position: placed?.globalPosition.toString(),
    })
    expect(rows[1]).toMatchObject({ topic: 'orders', partition_key: id, type: 'Shipped', payload: { shipped: true } })
    expect(rows[2]).toMatchObject({
      topic: 'audit',
      partition_key: 'all',
      type: 'audit.shipped',
      payload: { by: 'post' },
    })
    expect(rows[1].message_id).toBe(outboxMessageId(shipped?.eventId as string, 0))
    expect(rows[2].message_id).toBe(outboxMessageId(shipped?.eventId as string, 1))
    expect(rows[1].message_id).not.toBe(rows[2].message_id)
    expect(rows[1].event_position).toBe(shipped?.globalPosition.toString())

    expect(await codeOf(withOutbox.appendToStream(id, [{ type: 'Placed', data: {} }], { expectedVersion: 1n }))).toBe(
      'ANNALS_ERR_CONCURRENCY',
    )
    expect(await count(`"es".outbox`)).toBe(3)
  })

  it('builds the envelope headers of a message that asks for them once, with the real positions', async () => {
    const withEnvelope = createPostgresEventStore({
      pool: bed.db.pool,
      schema,
      outbox: {
        publish: () => [{ topic: 'envelope', envelope: true, headers: { 'content-type': 'application/json' } }],
      },
    })
    const id = `env-${randomUUID()}`
    await withEnvelope.appendToStream(id, [{ type: 'Opened', data: {} }])
    const [, event] = (
      await withEnvelope.appendToStream(id, [
        { type: 'Noted', data: {} },
        { type: 'Placed', data: {}, schemaVersion: 2, metadata: { correlationId: 'c-1', causationId: 'k-1' } },
      ])
    ).events
    const { rows } = await bed.db.pool.query(`SELECT headers FROM "es".outbox WHERE event_id = $1`, [event?.eventId])
    expect(rows).toEqual([
      {
        headers: {
          'content-type': 'application/json',
          'correlation-id': 'c-1',
          'causation-id': 'k-1',
          'annals-event-id': event?.eventId,
          'annals-event-type': 'Placed',
          'annals-stream-id': id,
          'annals-stream-version': '3',
          'annals-global-position': event?.globalPosition.toString(),
          'annals-schema-version': '2',
          'annals-recorded-at': event?.recordedAt.toISOString(),
        },
      },
    ])
  })
})
