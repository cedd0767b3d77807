import type { LogCheckpoint, RecordedEvent } from '@annals/core'
import type { SinkBatch, SinkTarget } from '@annals/projections'
import type { Client } from '@elastic/elasticsearch'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestEngine } from '../test/support.js'
import type { ElasticsearchWriter } from './batch-writer.js'
import { isDocumentRejectedError } from './errors.js'
import { CHECKPOINT_ID } from './names.js'
import { createSearch } from './search.js'
import { createElasticsearchSink, type ElasticsearchSink } from './sink/create-elasticsearch-sink.js'

type AccountDoc = { owner: string; balance: number; openedAt?: string }

const silent = pino({ level: 'silent' })

let position = 0n
/** A recorded event as the log would deliver it (one transaction per event keeps checkpoints simple). */
function recorded(streamId: string, streamVersion: bigint, type: string, data: Record<string, unknown>): RecordedEvent {
  position++
  return {
    type,
    data,
    eventId: `${streamId}-${streamVersion}`,
    streamId,
    streamVersion,
    globalPosition: position,
    transactionId: position,
    schemaVersion: 1,
    metadata: {},
    recordedAt: new Date(),
  }
}

const cpOf = (e: RecordedEvent): LogCheckpoint => ({ transactionId: e.transactionId, position: e.globalPosition })

/** The handlers of an accounts projection, as the runner would run them (one endEvent per event). */
async function handle(events: readonly RecordedEvent[], es: ElasticsearchWriter<AccountDoc>): Promise<void> {
  for (const e of events) {
    const d = e.data as { owner?: string; amount?: number; balance?: number; openedAt?: string }
    switch (e.type) {
      case 'Opened':
        es.index(e, e.streamId, { owner: d.owner ?? '', balance: 0, ...(d.openedAt ? { openedAt: d.openedAt } : {}) })
        break
      case 'Deposited':
        await es.update(e, e.streamId, (a) => a && { ...a, balance: a.balance + (d.amount ?? 0) })
        break
      case 'BalanceSet':
        es.index(e, e.streamId, { owner: d.owner ?? '', balance: d.balance ?? 0 })
        break
      case 'Closed':
        es.delete(e, e.streamId)
        break
    }
    ;(es as unknown as { endEvent(): void }).endEvent()
  }
}

function batch(
  events: readonly RecordedEvent[],
  expected: LogCheckpoint | null,
  options: { token?: bigint; checkpoint?: LogCheckpoint | null; replayIds?: bigint[] } = {},
): SinkBatch<ElasticsearchWriter<AccountDoc>> {
  const last = events[events.length - 1]
  return {
    token: options.token ?? 1n,
    expected,
    checkpoint: options.checkpoint !== undefined ? options.checkpoint : last ? cpOf(last) : null,
    replayIds: options.replayIds ?? [],
    size: events.length,
    apply: (ctx) => handle(events, ctx),
  }
}

describe('Elasticsearch sink against the real engine', () => {
  let engine: Awaited<ReturnType<typeof createTestEngine>>
  let client: Client
  let sink: ElasticsearchSink<AccountDoc>
  beforeAll(async () => {
    engine = await createTestEngine()
    client = engine.client
    sink = createElasticsearchSink<AccountDoc>({
      client,
      indexPrefix: engine.indexPrefix,
      logger: silent,
      mappings: {
        dynamic: 'strict',
        properties: { owner: { type: 'keyword' }, balance: { type: 'long' }, openedAt: { type: 'date' } },
      },
      // Tombstones, not the engine's delete versions, keep deletes deleted: prove it with no GC grace at all.
      settings: { gc_deletes: '0s' },
    })
  })
  afterAll(async () => {
    await engine?.cleanup()
  })

  const target = (projection: string, generation = 1): SinkTarget => ({ projection, generation, schema: 'annals' })

  async function getDoc(projection: string, id: string, generation = 1) {
    const res = await client.get<Record<string, unknown>>(
      { index: sink.indexOf(projection, generation), id },
      { ignore: [404] },
    )
    return res.found ? { version: res._version, source: res._source } : null
  }

  it('applies the same bulk delivered twice once, and an older version after a newer one leaves the newest state', async () => {
    const t = target('redelivery')
    await sink.prepare(t)
    const opened = recorded('acc-1', 1n, 'Opened', { owner: 'ada' })
    const deposit = recorded('acc-1', 2n, 'Deposited', { amount: 10 })
    const set = recorded('acc-2', 1n, 'BalanceSet', { owner: 'bob', balance: 5 })
    const first = [opened, deposit, set]
    const cp1 = cpOf(set)
    expect(await sink.commit(t, batch(first, null))).toEqual({ status: 'committed' })
    // The same events again (as after a crash between the bulk and the checkpoint): nothing doubles.
    expect(await sink.commit(t, batch(first, cp1))).toEqual({ status: 'committed' })
    expect(await getDoc('redelivery', 'acc-1')).toEqual({ version: 2, source: { owner: 'ada', balance: 10 } })
    expect(await getDoc('redelivery', 'acc-2')).toEqual({ version: 1, source: { owner: 'bob', balance: 5 } })

    const deposit3 = recorded('acc-1', 3n, 'Deposited', { amount: 7 })
    const set2 = recorded('acc-2', 2n, 'BalanceSet', { owner: 'bob', balance: 50 })
    expect(await sink.commit(t, batch([deposit3, set2], cp1))).toEqual({ status: 'committed' })
    const cp2 = cpOf(set2)
    // Older versions arrive after the newer ones: the engine keeps the newest state.
    expect(await sink.commit(t, batch([deposit, set, opened], cp2, { checkpoint: cp2 }))).toEqual({
      status: 'committed',
    })
    expect(await getDoc('redelivery', 'acc-1')).toEqual({ version: 3, source: { owner: 'ada', balance: 17 } })
    expect(await getDoc('redelivery', 'acc-2')).toEqual({ version: 2, source: { owner: 'bob', balance: 50 } })
    expect(await sink.loadCheckpoint(t)).toEqual(cp2)
  })

  it('keeps a deleted document deleted when an earlier version is redelivered (even with gc_deletes 0s)', async () => {
    const t = target('deletes')
    await sink.prepare(t)
    const opened = recorded('acc-9', 1n, 'Opened', { owner: 'eve' })
    const closed = recorded('acc-9', 2n, 'Closed', {})
    const other = recorded('acc-8', 1n, 'Opened', { owner: 'kim' })
    expect(await sink.commit(t, batch([opened, other], null))).toEqual({ status: 'committed' })
    expect(await sink.commit(t, batch([closed], cpOf(other)))).toEqual({ status: 'committed' })
    await client.indices.refresh({ index: sink.indexOf('deletes', 1) })
    await new Promise((resolve) => setTimeout(resolve, 100))
    // A stale redelivery of the creation, in a later batch.
    expect(await sink.commit(t, batch([opened], cpOf(closed), { checkpoint: cpOf(closed) }))).toEqual({
      status: 'committed',
    })
    await sink.activate(t, 1n)
    const reader = createSearch(client, { name: 'deletes', sink })
    expect(await reader.get('acc-9')).toBeNull()
    expect(await reader.get('acc-8')).toEqual({ owner: 'kim', balance: 0 })
    const all = await reader.search({ size: 100 })
    expect(all).toEqual({ total: 1, hits: [{ owner: 'kim', balance: 0 }], ids: ['acc-8'] })
    // A real re-creation (a newer version) does bring it back.
    const reopened = recorded('acc-9', 3n, 'Opened', { owner: 'eve' })
    expect(await sink.commit(t, batch([reopened], cpOf(closed)))).toEqual({ status: 'committed' })
    expect(await reader.get('acc-9')).toEqual({ owner: 'eve', balance: 0 })
  })

  it('reports a document the engine rejects (mapping error) with its reason; the rest of the batch is applied', async () => {
    const t = target('rejects')
    await sink.prepare(t)
    const good1 = recorded('acc-1', 1n, 'Opened', { owner: 'ada', openedAt: '2026-01-01T00:00:00Z' })
    const bad = recorded('acc-2', 1n, 'Opened', { owner: 'bob', openedAt: 'not a date' })
    const badDeposit = recorded('acc-2', 2n, 'Deposited', { amount: 3 })
    const good2 = recorded('acc-3', 1n, 'Opened', { owner: 'cyd' })
    const result = await sink.commit(t, batch([good1, bad, good2, badDeposit], null))
    expect(result.status).toBe('committed')
    const rejections = 'rejections' in result ? (result.rejections ?? []) : []
    // Both events that wrote the refused document are reported (index 1 and 3), nothing else.
    expect(rejections.map((r) => r.index)).toEqual([1, 3])
    const error = rejections[0]?.error
    expect(isDocumentRejectedError(error)).toBe(true)
    expect(error?.message).toMatch(/openedAt|parse/)
    expect(await getDoc('rejects', 'acc-1')).toMatchObject({ version: 1, source: { owner: 'ada' } })
    expect(await getDoc('rejects', 'acc-3')).toMatchObject({ version: 1, source: { owner: 'cyd' } })
    expect(await getDoc('rejects', 'acc-2')).toBeNull()
    expect(await sink.loadCheckpoint(t)).toEqual(cpOf(badDeposit))
  })

  it('stores the checkpoint with a compare-and-set and refuses a fenced (older) lease token', async () => {
    const t = target('fencing')
    await sink.prepare(t)
    const e1 = recorded('acc-1', 1n, 'Opened', { owner: 'ada' })
    expect(await sink.commit(t, batch([e1], null, { token: 5n }))).toEqual({ status: 'committed' })
    // A second writer that read an older checkpoint is refused.
    const e2 = recorded('acc-1', 2n, 'Deposited', { amount: 1 })
    expect(await sink.commit(t, batch([e2], null, { token: 5n }))).toEqual({ status: 'conflict', actual: cpOf(e1) })
    await sink.fence(t, 7n)
    expect(await sink.commit(t, batch([e2], cpOf(e1), { token: 6n }))).toEqual({ status: 'fenced' })
    expect(await sink.activate(t, 6n)).toBe(false)
    expect(await sink.commit(t, batch([e2], cpOf(e1), { token: 7n, replayIds: [42n] }))).toEqual({
      status: 'committed',
    })
    // A dead-letter replay that was already applied is not applied again.
    expect(await sink.commit(t, batch([e2], cpOf(e2), { token: 7n, checkpoint: null, replayIds: [42n] }))).toEqual({
      status: 'duplicate',
    })
    expect(await getDoc('fencing', 'acc-1')).toMatchObject({ version: 2, source: { balance: 1 } })
    expect(await getDoc('fencing', CHECKPOINT_ID)).not.toBeNull()
  })

  it('forgets the documents it remembers when another owner wrote in between', async () => {
    const t = target('handover')
    const other = createElasticsearchSink<AccountDoc>({ client, indexPrefix: engine.indexPrefix, logger: silent })
    await sink.prepare(t)
    const opened = recorded('acc-1', 1n, 'Opened', { owner: 'ada' })
    expect(await sink.commit(t, batch([opened], null, { token: 1n }))).toEqual({ status: 'committed' })
    // Another worker takes the lease and deposits; this sink still remembers version 1.
    await other.fence(t, 2n)
    const d2 = recorded('acc-1', 2n, 'Deposited', { amount: 5 })
    expect(await other.commit(t, batch([d2], cpOf(opened), { token: 2n }))).toEqual({ status: 'committed' })
    const d3 = recorded('acc-1', 3n, 'Deposited', { amount: 1 })
    expect(await sink.commit(t, batch([d3], cpOf(opened), { token: 1n }))).toEqual({ status: 'fenced' })
    // It takes the lease back (fence, then load the checkpoint, as the runner does) and goes on.
    await sink.fence(t, 3n)
    const cp = await sink.loadCheckpoint(t)
    expect(await sink.commit(t, batch([d3], cp, { token: 3n }))).toEqual({ status: 'committed' })
    expect(await getDoc('handover', 'acc-1')).toEqual({ version: 3, source: { owner: 'ada', balance: 6 } })
  })

  it('moves the alias atomically from one generation to the next and drops the old index', async () => {
    const p = 'swap'
    const e1 = recorded('acc-1', 1n, 'Opened', { owner: 'ada' })
    await sink.prepare(target(p, 1))
    await sink.commit(target(p, 1), batch([e1], null))
    expect(await sink.liveGeneration({ projection: p, schema: 'annals' })).toBeNull()
    expect(await sink.activate(target(p, 1), 1n)).toBe(true)
    expect(await sink.liveGeneration({ projection: p, schema: 'annals' })).toBe(1)
    await sink.prepare(target(p, 2))
    await sink.commit(target(p, 2), batch([e1], null))
    expect(await sink.activate(target(p, 2), 1n)).toBe(true)
    expect(await sink.liveGeneration({ projection: p, schema: 'annals' })).toBe(2)
    const aliases = await client.indices.getAlias({ name: sink.aliasOf(p) })
    expect(Object.keys(aliases)).toEqual([sink.indexOf(p, 2)])
    await sink.drop(target(p, 1))
    expect(await client.indices.exists({ index: sink.indexOf(p, 1) })).toBe(false)
    await expect(sink.drop(target(p, 2))).rejects.toThrow(/move the alias first/)
    const reader = createSearch(client, { name: p, sink })
    expect((await reader.search()).total).toBe(1)
  })
})
