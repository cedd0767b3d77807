import { randomUUID } from 'node:crypto'
import {
  createCommandHandler,
  defineAggregate,
  defineCommand,
  defineEvent,
  findUnstorableText,
  isAnnalsError,
  MAX_STREAM_VERSION,
  type ValidationError,
} from '@annals/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createPostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { useStoreTestbed } from './fixtures/store-testbed.js'

// Issue 16: generated input at the store API. Whatever a caller sends, the store either keeps it
// exactly or refuses it with a typed error naming the field, and writes nothing.
const schema = 'badin'
const bed = useStoreTestbed({ schema })

// Any code point, lone surrogate halves and U+0000 included, plus the characters SQL and LIKE care about.
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({
    unit: fc.constantFrom("'", '"', ';', '\\', '%', '_', '$', '-', '*', '\u0000', '\ud800', '\udfff', 'a'),
    maxLength: 12,
  }),
  fc.constantFrom("'; DROP TABLE badin.events; --", '$1', '%', '_', '\\', 'x\u0000', '\udc00', '\ud83d\ude00'),
)

const jsonWithAnyText = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    anyText,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(anyText, tie('value'), { maxKeys: 4 }),
  ),
})).value

const objectWithAnyText = fc.dictionary(anyText, jsonWithAnyText, { maxKeys: 5 })

const codeOf = (error: unknown) => (isAnnalsError(error) ? error.code : `untyped: ${String(error)}`)

async function outcome(promise: Promise<unknown>): Promise<{ ok: true } | { ok: false; error: unknown }> {
  try {
    await promise
    return { ok: true }
  } catch (error) {
    return { ok: false, error }
  }
}

/** The value as JSON keeps it (-0 is 0, undefined properties are gone). */
const asJson = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown

describe('the store API under generated bad input (real Postgres)', () => {
  it('data and metadata: kept exactly, or refused naming the path of the bad string, nothing written', async () => {
    await fc.assert(
      fc.asyncProperty(objectWithAnyText, objectWithAnyText, async (data, metadata) => {
        const id = `p-${randomUUID()}`
        const bad = findUnstorableText(data, [id, 0, 'data']) ?? findUnstorableText(metadata, [id, 0, 'metadata'])
        const result = await outcome(bed.store.appendToStream(id, [{ type: 'Generated', data, metadata }]))
        if (bad) {
          expect(result.ok).toBe(false)
          const error = (result as { error: ValidationError }).error
          expect(codeOf(error)).toBe('ANNALS_ERR_VALIDATION')
          expect(error.issues[0]?.path).toEqual(bad.path)
          expect((await bed.store.readStream(id)).streamExists).toBe(false)
          return
        }
        expect(result).toEqual({ ok: true })
        const [event] = (await bed.store.readStream(id)).events
        expect(event?.data).toEqual(asJson(data))
        expect(event?.metadata).toMatchObject(asJson(metadata) as object)
      }),
      { numRuns: 150 },
    )
  })

  it('stream ids and event types (SQL and LIKE metacharacters, empty, long): kept exactly and apart, or refused', async () => {
    const name = fc.oneof(anyText, fc.string({ minLength: 1000, maxLength: 1100 }), fc.constant(''))
    await fc.assert(
      fc.asyncProperty(name, name, async (suffix, type) => {
        const id = suffix.length > 100 ? suffix : `s-${randomUUID()}${suffix}`
        const result = await outcome(bed.store.appendToStream(id, [{ type, data: {} }]))
        const storable = (text: string) =>
          text.length > 0 && findUnstorableText(text) === null && Buffer.byteLength(text) <= 1024
        if (storable(id) && storable(type)) {
          expect(result).toEqual({ ok: true })
          const read = await bed.store.readStream(id)
          expect(read.events.map((e) => [e.streamId, e.type])).toEqual([[id, type]])
        } else {
          expect(result.ok).toBe(false)
          expect(codeOf((result as { error: unknown }).error)).toBe('ANNALS_ERR_VALIDATION')
          if (storable(id)) expect((await bed.store.readStream(id)).streamExists).toBe(false)
        }
      }),
      { numRuns: 150 },
    )
    // Nothing a generated name held ran as SQL.
    const { rows } = await bed.db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${schema}.events`)
    expect(Number(rows[0]?.n)).toBeGreaterThan(0)
  })

  it('expected versions: a bigint in range is compared exactly (beyond 2^53 too); anything else is ANNALS_ERR_INVALID_ARGUMENT', async () => {
    const id = `v-${randomUUID()}`
    await bed.store.appendToStream(id, [{ type: 'A', data: {} }])
    const expected = fc.oneof(
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
      fc.constantFrom(2n ** 53n + 1n, MAX_STREAM_VERSION, MAX_STREAM_VERSION + 1n, -1n, 1n),
      fc.integer(),
      fc.double(),
      fc.string().filter((text) => !['any', 'no-stream', 'stream-exists'].includes(text)),
    )
    let current = 1n
    await fc.assert(
      fc.asyncProperty(expected, async (expectedVersion) => {
        const result = await outcome(
          bed.store.appendToStream(id, [{ type: 'B', data: {} }], { expectedVersion: expectedVersion as bigint }),
        )
        const inRange =
          typeof expectedVersion === 'bigint' && expectedVersion >= 0n && expectedVersion <= MAX_STREAM_VERSION
        if (inRange && expectedVersion === current) {
          expect(result).toEqual({ ok: true })
          current++
          return
        }
        expect(result.ok).toBe(false)
        const error = (result as { error: { expected?: unknown; actual?: unknown } }).error
        if (inRange) {
          expect(codeOf(error)).toBe('ANNALS_ERR_CONCURRENCY')
          expect(error.expected).toBe(expectedVersion)
          expect(error.actual).toBe(current)
        } else {
          expect(codeOf(error)).toBe('ANNALS_ERR_INVALID_ARGUMENT')
        }
      }),
      { numRuns: 150 },
    )
    // Only the appends whose expected version matched wrote anything.
    expect((await bed.store.readStream(id)).currentVersion).toBe(current)
  })

  it('payloads over the configured byte cap: ANNALS_ERR_APPEND_LIMIT_EXCEEDED, nothing written', async () => {
    const capped = createPostgresEventStore({ pool: bed.db.pool, schema, limits: { maxBytesPerAppend: 4096 } })
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 12_000 }), fc.integer({ min: 1, max: 3 }), async (size, count) => {
        const id = `cap-${randomUUID()}`
        const events = Array.from({ length: count }, () => ({ type: 'Big', data: { s: 'x'.repeat(size) } }))
        const result = await outcome(capped.appendToStream(id, events))
        if (result.ok) {
          expect((await capped.readStream(id)).currentVersion).toBe(BigInt(count))
          return
        }
        expect(codeOf(result.error)).toBe('ANNALS_ERR_APPEND_LIMIT_EXCEEDED')
        expect(size * count).toBeGreaterThan(4096 - 200)
        expect((await capped.readStream(id)).streamExists).toBe(false)
      }),
      { numRuns: 60 },
    )
  })

  it('schema names and table prefixes with SQL metacharacters: ANNALS_PG_ERR_INVALID_IDENTIFIER before any SQL', () => {
    fc.assert(
      fc.property(anyText, anyText, (name, prefix) => {
        const valid = (text: string, pattern: RegExp) => pattern.test(text)
        let code: string | null = null
        try {
          createPostgresEventStore({ pool: bed.db.pool, schema: name, tablePrefix: prefix })
        } catch (error) {
          code = codeOf(error)
        }
        const ok =
          valid(name, /^[A-Za-z_][A-Za-z0-9_]{0,62}$/) &&
          !name.toLowerCase().startsWith('pg_') &&
          valid(prefix, /^([A-Za-z_][A-Za-z0-9_]*)?$/) &&
          prefix.length <= 28
        expect(code).toBe(ok ? null : 'ANNALS_PG_ERR_INVALID_IDENTIFIER')
      }),
      { numRuns: 500 },
    )
  })
})

const Added = defineEvent('Added', z.object({ n: z.number().int() }))
const Add = defineCommand('Add', z.object({ id: z.string(), n: z.number().int() }))
const Counter = defineAggregate({
  name: 'counter',
  events: [Added],
  commands: [Add],
  initialState: () => 0,
  evolve: (state: number, event) => state + event.data.n,
  decide: (command) => ({ type: 'Added' as const, data: { n: command.data.n } }),
  streamId: (command) => command.data.id,
})

describe('loading a stream this code cannot read (real Postgres)', () => {
  it.each([
    [
      'an event type the aggregate does not register',
      { type: 'Removed', data: { n: 1 } },
      'ANNALS_ERR_UNKNOWN_EVENT_TYPE',
    ],
    [
      'a schema version newer than the code',
      { type: 'Added', data: { n: 1 }, schemaVersion: 2 },
      'ANNALS_ERR_UNSUPPORTED_SCHEMA_VERSION',
    ],
  ] as const)('%s: the command fails with %s and appends nothing', async (_, stored, code) => {
    const id = `counter-${randomUUID()}`
    await bed.store.appendToStream(id, [{ type: 'Added', data: { n: 1 } }, stored])
    const handler = createCommandHandler(Counter, { store: bed.store })
    const error = await handler.handle(Add.create({ id, n: 5 })).then(
      () => null,
      (e: unknown) => e,
    )
    expect(codeOf(error)).toBe(code)
    expect((await bed.store.readStream(id)).currentVersion).toBe(2n)
  })
})
