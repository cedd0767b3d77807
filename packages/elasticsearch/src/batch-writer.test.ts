import type { RecordedEvent } from '@annals/core'
import { isAnnalsError } from '@annals/core'
import { describe, expect, it } from 'vitest'
import { createBatchWriter, type StoredDocument, versionFunction } from './batch-writer.js'

type Doc = { n: number }

function ev(streamId: string, streamVersion: bigint, globalPosition = streamVersion): RecordedEvent {
  return {
    type: 'T',
    data: {},
    eventId: `${streamId}@${streamVersion}`,
    streamId,
    streamVersion,
    globalPosition,
    transactionId: globalPosition,
    schemaVersion: 1,
    metadata: {},
    recordedAt: new Date(0),
  }
}

function writer(stored: Record<string, StoredDocument<Doc>> = {}, events?: RecordedEvent[]) {
  const fetched: string[] = []
  const w = createBatchWriter<Doc>({
    versionOf: versionFunction('streamVersion'),
    fetch: async (id) => {
      fetched.push(id)
      return stored[id] ?? null
    },
    events,
  })
  return { w, fetched }
}

describe('batch writer', () => {
  it('sends one write per document: the newest version, carrying every event that wrote it', async () => {
    const { w } = writer()
    w.index(ev('a', 1n), 'a', { n: 1 })
    w.endEvent()
    await w.update(ev('a', 2n), 'a', (d) => ({ n: (d?.n ?? 0) + 10 }))
    w.endEvent()
    w.index(ev('b', 1n), 'b', { n: 5 })
    w.endEvent()
    expect(w.writes()).toEqual([
      { id: 'a', version: 2n, doc: { n: 11 }, eventIds: ['a@1', 'a@2'] },
      { id: 'b', version: 1n, doc: { n: 5 }, eventIds: ['b@1'] },
    ])
  })

  it('skips an update the stored document already reflects (redelivery) and an older index', async () => {
    const { w, fetched } = writer({ a: { version: 3n, doc: { n: 30 } } })
    await w.update(ev('a', 2n), 'a', (d) => ({ n: (d?.n ?? 0) + 1 }))
    await w.update(ev('a', 3n), 'a', (d) => ({ n: (d?.n ?? 0) + 1 }))
    expect(w.writes()).toEqual([])
    await w.update(ev('a', 4n), 'a', (d) => ({ n: (d?.n ?? 0) + 1 }))
    w.index(ev('a', 2n), 'a', { n: -1 })
    expect(w.writes()).toEqual([{ id: 'a', version: 4n, doc: { n: 31 }, eventIds: ['a@4'] }])
    expect(fetched).toEqual(['a'])
  })

  it('treats a tombstone as absent but keeps its version', async () => {
    const { w } = writer({ a: { version: 5n, doc: null } })
    expect(await w.get('a')).toBeNull()
    await w.update(ev('a', 4n), 'a', () => ({ n: 1 }))
    expect(w.writes()).toEqual([])
    w.delete(ev('b', 2n), 'b')
    expect(w.writes()).toEqual([{ id: 'b', version: 2n, doc: null, eventIds: ['b@2'] }])
  })

  it('knows the batch index of each event: from the runner, from end markers, or by first write', () => {
    const events = [ev('x', 1n), ev('a', 1n), ev('b', 1n)]
    const given = writer({}, events).w
    given.index(events[2] as RecordedEvent, 'b', { n: 1 })
    expect(given.eventIndex('b@1')).toBe(2)
    const marked = writer().w
    marked.endEvent() // event 0 wrote nothing
    marked.index(ev('a', 1n), 'a', { n: 1 })
    marked.endEvent()
    expect(marked.eventIndex('a@1')).toBe(1)
    const unmarked = writer().w
    unmarked.index(ev('a', 1n), 'a', { n: 1 })
    expect(unmarked.eventIndex('a@1')).toBe(0)
  })

  it('refuses reserved ids and fields, and versions outside 1..2^63-1', () => {
    const { w } = writer()
    const codeOf = (f: () => void) => {
      try {
        f()
      } catch (error) {
        return isAnnalsError(error) ? error.code : 'other'
      }
      return null
    }
    expect(codeOf(() => w.index(ev('a', 1n), '__annals_checkpoint', { n: 1 }))).toBe('ANNALS_ES_ERR_INVALID_OPTION')
    expect(codeOf(() => w.index(ev('a', 1n), '', { n: 1 }))).toBe('ANNALS_ES_ERR_INVALID_OPTION')
    expect(codeOf(() => w.index(ev('a', 1n), 'a', { annals_kind: 'x' } as unknown as Doc))).toBe(
      'ANNALS_ES_ERR_INVALID_OPTION',
    )
    const custom = createBatchWriter<Doc>({ versionOf: () => 0n, fetch: async () => null })
    expect(codeOf(() => custom.index(ev('a', 1n), 'a', { n: 1 }))).toBe('ANNALS_ES_ERR_INVALID_VERSION')
    const position = versionFunction('globalPosition')
    expect(position(ev('a', 1n, 99n))).toBe(99n)
  })
})
