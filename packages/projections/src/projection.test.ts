import { defineEvent, type RecordedEvent } from '@annals/core'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { assertIdentifier, projectionTables } from './names.js'
import { defineProjection, indexProjections } from './projection.js'
import type { ReadModelSink } from './sink.js'
import { decodeCheckpoint, encodeCheckpoint, redisKeys } from './sinks/redis-sink.js'

const sink = { kind: 'test' } as unknown as ReadModelSink<string[]>
const Deposited = defineEvent('Deposited', z.object({ amount: z.number() }))
const Withdrawn = defineEvent('Withdrawn', z.object({ amount: z.number() }))

function recorded(type: string, data: unknown): RecordedEvent {
  return {
    type,
    data,
    eventId: '00000000-0000-4000-8000-000000000001',
    streamId: 's',
    streamVersion: 1n,
    globalPosition: 1n,
    transactionId: 1n,
    schemaVersion: 1,
    metadata: {},
    recordedAt: new Date(0),
  }
}

describe('defineProjection', () => {
  it('dispatches each event to the handler of its type and to apply', async () => {
    const p = defineProjection({
      name: 'p',
      version: 1,
      handles: [Deposited, Withdrawn],
      sink,
      handlers: { Deposited: (e, out) => void out.push(`+${e.data.amount}`) },
      apply: (e, out) => void out.push(e.type),
    })
    const out: string[] = []
    await p.handle(recorded('Deposited', { amount: 3 }), out)
    await p.handle(recorded('Withdrawn', { amount: 2 }), out)
    expect(out).toEqual(['+3', 'Deposited', 'Withdrawn'])
    expect(p.handles).toEqual(['Deposited', 'Withdrawn'])
  })

  it('validates stored data through the event definitions (a bad payload throws, to be dead-lettered)', async () => {
    const p = defineProjection({ name: 'p', version: 1, handles: [Deposited], sink, handlers: { Deposited: () => {} } })
    await expect(p.handle(recorded('Deposited', { amount: 'x' }), [])).rejects.toMatchObject({
      code: 'ANNALS_ERR_VALIDATION',
    })
  })

  it('rejects malformed definitions with codes', () => {
    const bad = (input: Record<string, unknown>) => () =>
      defineProjection({ name: 'p', version: 1, handles: ['A'], sink, apply: () => {}, ...input } as never)
    expect(bad({ name: 'Bad Name' })).toThrow(expect.objectContaining({ code: 'ANNALS_PROJ_ERR_INVALID_DEFINITION' }))
    expect(bad({ version: 0 })).toThrow(expect.objectContaining({ code: 'ANNALS_PROJ_ERR_INVALID_DEFINITION' }))
    expect(bad({ handles: [] })).toThrow(expect.objectContaining({ code: 'ANNALS_PROJ_ERR_INVALID_DEFINITION' }))
    expect(bad({ handles: ['A', 'A'] })).toThrow(
      expect.objectContaining({ code: 'ANNALS_PROJ_ERR_INVALID_DEFINITION' }),
    )
    expect(bad({ apply: undefined, handlers: { B: () => {} } })).toThrow(
      expect.objectContaining({ code: 'ANNALS_PROJ_ERR_INVALID_DEFINITION' }),
    )
    expect(bad({ applyBatch: () => {} })).toThrow(
      expect.objectContaining({ code: 'ANNALS_PROJ_ERR_INVALID_DEFINITION' }),
    )
    const p = defineProjection({ name: 'p', version: 1, handles: ['A'], sink, apply: () => {} })
    expect(() => indexProjections([p, p])).toThrow(
      expect.objectContaining({ code: 'ANNALS_PROJ_ERR_DUPLICATE_PROJECTION' }),
    )
  })
})

describe('names and encodings', () => {
  it('accepts plain identifiers only', () => {
    expect(assertIdentifier('schema', 'annals_1')).toBe('annals_1')
    for (const bad of ['Annals', '1abc', 'a-b', 'a"b', '', 'x'.repeat(49)]) {
      expect(() => assertIdentifier('schema', bad)).toThrow(
        expect.objectContaining({ code: 'ANNALS_PROJ_ERR_INVALID_IDENTIFIER' }),
      )
    }
    expect(projectionTables('rm').leases).toBe('"rm"."projection_leases"')
  })

  it('round-trips checkpoints and keeps a projection in one hash slot', () => {
    const cp = { transactionId: 2n ** 60n, position: 12345678901234n }
    expect(decodeCheckpoint(encodeCheckpoint(cp))).toEqual(cp)
    expect(decodeCheckpoint(null)).toBeNull()
    const keys = redisKeys('app:', 'balances')
    expect(keys.data(3, 'acc-1')).toBe('app:{balances}:g3:k:acc-1')
    expect(keys.checkpoint(3)).toBe('app:{balances}:g3:cp')
  })
})
