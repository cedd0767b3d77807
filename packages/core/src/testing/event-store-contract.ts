import { randomUUID } from 'node:crypto'
import { beforeEach, describe, expect, it } from 'vitest'
import { compareCheckpoints, LOG_START, type LogCheckpoint } from '../checkpoint.js'
import { isAnnalsError, type ValidationError } from '../errors.js'
import type { NewEvent, RecordedEvent } from '../event.js'
import type { EventStore } from '../event-store.js'
import { MAX_NAME_BYTES, MAX_SCHEMA_VERSION, MAX_STREAM_VERSION } from '../stored-values.js'
import { expectCode } from './expect-code.js'

/** Creates the store under test; called before every test (it may return the same shared store). */
export type EventStoreFactory = () => EventStore | Promise<EventStore>

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * The behaviour every `EventStore` implementation must have. Call it inside a test file:
 * `eventStoreContract('postgres', () => createPostgresEventStore({ db }))`. Each test uses fresh
 * random stream ids and event types, so the store may be shared with other tests; nothing assumes
 * positions start at 1 or are contiguous.
 */
export function eventStoreContract(name: string, factory: EventStoreFactory): void {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore
    let prefix: string
    const stream = (label = 's') => `${prefix}-${label}-${randomUUID()}`
    const type = (label: string) => `${prefix}${label}`
    const ev = (label: string, data: unknown = {}, extra: Partial<NewEvent> = {}): NewEvent => ({
      type: type(label),
      data,
      ...extra,
    })

    beforeEach(async () => {
      store = await factory()
      prefix = `C${randomUUID().replaceAll('-', '').slice(0, 12)}`
    })

    async function head(): Promise<LogCheckpoint> {
      let checkpoint = LOG_START
      for (;;) {
        const page = await store.readAll({ after: checkpoint, limit: 1000 })
        checkpoint = page.checkpoint
        if (page.caughtUp) return checkpoint
      }
    }

    async function readAllOf(types: readonly string[], after: LogCheckpoint = LOG_START, limit = 1000) {
      const events: RecordedEvent[] = []
      let checkpoint = after
      for (let page = 0; page < 10_000; page++) {
        const result = await store.readAll({ after: checkpoint, limit, types })
        events.push(...result.events)
        checkpoint = result.checkpoint
        if (result.caughtUp) break
      }
      return { events, checkpoint }
    }

    describe('appendToStream and readStream', () => {
      it('numbers a new stream from version 1 and returns the recorded envelopes', async () => {
        const id = stream()
        const result = await store.appendToStream(id, [ev('A', { n: 1 }), ev('B', { n: 2 }), ev('A', { n: 3 })])
        expect(result.streamId).toBe(id)
        expect(result.nextExpectedVersion).toBe(3n)
        expect(result.duplicate).toBe(false)
        expect(result.events.map((e) => e.streamVersion)).toEqual([1n, 2n, 3n])
        expect(result.events.map((e) => e.type)).toEqual([type('A'), type('B'), type('A')])
        for (const e of result.events) {
          expect(e.streamId).toBe(id)
          expect(e.eventId).toMatch(UUID)
          expect(typeof e.streamVersion).toBe('bigint')
          expect(typeof e.globalPosition).toBe('bigint')
          expect(typeof e.transactionId).toBe('bigint')
          expect(e.recordedAt).toBeInstanceOf(Date)
          expect(e.schemaVersion).toBe(1)
        }
        const positions = result.events.map((e) => e.globalPosition)
        expect(positions[0]! < positions[1]! && positions[1]! < positions[2]!).toBe(true)
        expect(new Set(result.events.map((e) => e.eventId)).size).toBe(3)

        const read = await store.readStream(id)
        expect(read.currentVersion).toBe(3n)
        expect(read.streamExists).toBe(true)
        expect(read.events.map((e) => [e.streamVersion, e.data])).toEqual([
          [1n, { n: 1 }],
          [2n, { n: 2 }],
          [3n, { n: 3 }],
        ])
        expect(read.events.map((e) => e.eventId)).toEqual(result.events.map((e) => e.eventId))
        expect(read.events.map((e) => e.globalPosition)).toEqual(positions)
      })

      it('reads a missing stream as empty at version 0n, not as an error', async () => {
        const read = await store.readStream(stream('missing'))
        expect(read).toEqual({ events: [], currentVersion: 0n, streamExists: false })
      })

      it('keeps versions of different streams independent', async () => {
        const a = stream('a')
        const b = stream('b')
        await store.appendToStream(a, [ev('A'), ev('A')])
        const rb = await store.appendToStream(b, [ev('A')])
        expect(rb.events[0]?.streamVersion).toBe(1n)
        expect((await store.readStream(a)).currentVersion).toBe(2n)
      })

      it('round-trips data, metadata, given event ids and schema versions', async () => {
        const id = stream()
        const eventId = randomUUID()
        const data = { text: 'zürich ✓ "quoted"', nested: { list: [1, 'two', null, { deep: true }] }, empty: {} }
        const metadata = { correlationId: randomUUID(), causationId: randomUUID(), tenant: 'acme', tags: ['x'] }
        await store.appendToStream(id, [ev('Meta', data, { eventId, schemaVersion: 3, metadata })])
        const [event] = (await store.readStream(id)).events
        expect(event?.eventId).toBe(eventId)
        expect(event?.schemaVersion).toBe(3)
        expect(event?.data).toEqual(data)
        expect(event?.metadata).toEqual(metadata)
      })

      it('defaults metadata to an empty object', async () => {
        const id = stream()
        await store.appendToStream(id, [ev('A')])
        const [event] = (await store.readStream(id)).events
        expect(event?.metadata).toEqual({})
      })
    })

    describe('expected version', () => {
      it('appends when the exact version matches and rejects a stale one with ConcurrencyError', async () => {
        const id = stream()
        await store.appendToStream(id, [ev('A'), ev('A')], { expectedVersion: 0n })
        const ok = await store.appendToStream(id, [ev('B')], { expectedVersion: 2n })
        expect(ok.nextExpectedVersion).toBe(3n)
        const error = (await expectCode(
          store.appendToStream(id, [ev('C')], { expectedVersion: 2n }),
          'ANNALS_ERR_CONCURRENCY',
        )) as { streamId: string; expected: unknown; actual: bigint }
        expect(error.streamId).toBe(id)
        expect(error.expected).toBe(2n)
        expect(error.actual).toBe(3n)
        expect((await store.readStream(id)).events.map((e) => e.type)).toEqual([type('A'), type('A'), type('B')])
      })

      it('treats 0n as "the stream must not exist"', async () => {
        const id = stream()
        await store.appendToStream(id, [ev('A')], { expectedVersion: 0n })
        const error = (await expectCode(
          store.appendToStream(id, [ev('A')], { expectedVersion: 0n }),
          'ANNALS_ERR_CONCURRENCY',
        )) as { actual: bigint }
        expect(error.actual).toBe(1n)
      })

      it('rejects an expected version ahead of the stream', async () => {
        const id = stream()
        await expectCode(store.appendToStream(id, [ev('A')], { expectedVersion: 5n }), 'ANNALS_ERR_CONCURRENCY')
        expect((await store.readStream(id)).streamExists).toBe(false)
      })

      it("'no-stream' accepts only a missing stream", async () => {
        const id = stream()
        await store.appendToStream(id, [ev('A')], { expectedVersion: 'no-stream' })
        const error = (await expectCode(
          store.appendToStream(id, [ev('A')], { expectedVersion: 'no-stream' }),
          'ANNALS_ERR_CONCURRENCY',
        )) as { expected: unknown; actual: bigint }
        expect(error.expected).toBe('no-stream')
        expect(error.actual).toBe(1n)
      })

      it("'stream-exists' accepts only an existing stream", async () => {
        const id = stream()
        const error = (await expectCode(
          store.appendToStream(id, [ev('A')], { expectedVersion: 'stream-exists' }),
          'ANNALS_ERR_CONCURRENCY',
        )) as { actual: bigint }
        expect(error.actual).toBe(0n)
        await store.appendToStream(id, [ev('A')])
        const ok = await store.appendToStream(id, [ev('A')], { expectedVersion: 'stream-exists' })
        expect(ok.nextExpectedVersion).toBe(2n)
      })

      it("'any' (the default) appends whatever the version", async () => {
        const id = stream()
        await store.appendToStream(id, [ev('A')], { expectedVersion: 'any' })
        await store.appendToStream(id, [ev('A')], { expectedVersion: 'any' })
        const last = await store.appendToStream(id, [ev('A')])
        expect(last.nextExpectedVersion).toBe(3n)
      })

      it('rejects a number as expected version, naming the bigint to write, before writing anything', async () => {
        const id = stream()
        // JavaScript callers (TypeScript refuses the number at compile time).
        const one = 1 as unknown as bigint
        const error = (await expectCode(
          store.appendToStream(id, [ev('A')], { expectedVersion: one }),
          'ANNALS_ERR_INVALID_ARGUMENT',
        )) as Error
        expect(error.message).toContain('use 1n')
        await expectCode(
          store.appendToStreams([{ streamId: id, events: [ev('A')], expectedVersion: one }]),
          'ANNALS_ERR_INVALID_ARGUMENT',
        )
        expect((await store.readStream(id)).streamExists).toBe(false)
      })

      it('lets exactly one of two racing appends at the same version win', async () => {
        const id = stream()
        await store.appendToStream(id, [ev('A')])
        const results = await Promise.allSettled([
          store.appendToStream(id, [ev('X')], { expectedVersion: 1n }),
          store.appendToStream(id, [ev('Y')], { expectedVersion: 1n }),
        ])
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
        const rejected = results.find((r) => r.status === 'rejected')
        expect(isAnnalsError(rejected?.reason, 'ANNALS_ERR_CONCURRENCY')).toBe(true)
        expect((await store.readStream(id)).currentVersion).toBe(2n)
      })
    })

    describe('read bounds', () => {
      it('honours from, to and limit (inclusive, 1-based) and always reports the current version', async () => {
        const id = stream()
        await store.appendToStream(
          id,
          [1, 2, 3, 4, 5].map((n) => ev('N', { n })),
        )
        const versions = async (options: Parameters<EventStore['readStream']>[1]) => {
          const read = await store.readStream(id, options)
          expect(read.currentVersion).toBe(5n)
          return read.events.map((e) => e.streamVersion)
        }
        expect(await versions({ from: 2n })).toEqual([2n, 3n, 4n, 5n])
        expect(await versions({ to: 2n })).toEqual([1n, 2n])
        expect(await versions({ from: 2n, to: 4n })).toEqual([2n, 3n, 4n])
        expect(await versions({ from: 3n, limit: 2 })).toEqual([3n, 4n])
        expect(await versions({ from: 6n })).toEqual([])
        expect(await versions({ from: 4n, to: 3n })).toEqual([])
      })

      it('stops at untilPosition (inclusive)', async () => {
        const id = stream()
        const other = stream('other')
        const first = await store.appendToStream(id, [ev('A'), ev('A')])
        await store.appendToStream(other, [ev('A')])
        await store.appendToStream(id, [ev('A')])
        const second = first.events[1]!
        const read = await store.readStream(id, { untilPosition: second.globalPosition })
        expect(read.events.map((e) => e.streamVersion)).toEqual([1n, 2n])
        const before = await store.readStream(id, { untilPosition: first.events[0]!.globalPosition })
        expect(before.events.map((e) => e.streamVersion)).toEqual([1n])
      })

      it('stops at untilTime (inclusive, at the millisecond returned in recordedAt)', async () => {
        const id = stream()
        const recorded: Date[] = []
        for (let i = 0; i < 3; i++) {
          const result = await store.appendToStream(id, [ev('T', { i })])
          recorded.push(result.events[0]!.recordedAt)
          await sleep(15)
        }
        const at = async (time: Date) => (await store.readStream(id, { untilTime: time })).events.map((e) => e.data)
        expect(await at(recorded[1]!)).toEqual([{ i: 0 }, { i: 1 }])
        expect(await at(recorded[0]!)).toEqual([{ i: 0 }])
        expect(await at(new Date(recorded[0]!.getTime() - 1000))).toEqual([])
        const read = await store.readStream(id)
        expect(read.events.map((e) => e.recordedAt.getTime())).toEqual(recorded.map((d) => d.getTime()))
      })

      it('combines bounds: the read stops at the first event past any of them', async () => {
        const id = stream()
        const result = await store.appendToStream(
          id,
          [1, 2, 3, 4].map((n) => ev('N', { n })),
        )
        const read = await store.readStream(id, { from: 2n, to: 4n, untilPosition: result.events[2]!.globalPosition })
        expect(read.events.map((e) => e.streamVersion)).toEqual([2n, 3n])
      })
    })

    describe('appendToStreams', () => {
      it('appends to several streams in one transaction', async () => {
        const a = stream('a')
        const b = stream('b')
        await store.appendToStream(b, [ev('A')])
        const results = await store.appendToStreams([
          { streamId: a, events: [ev('A'), ev('B')], expectedVersion: 'no-stream' },
          { streamId: b, events: [ev('C')], expectedVersion: 1n },
        ])
        expect(results.map((r) => [r.streamId, r.nextExpectedVersion])).toEqual([
          [a, 2n],
          [b, 2n],
        ])
        expect(results[0]!.events[0]!.transactionId).toBe(results[1]!.events[0]!.transactionId)
        expect((await store.readStream(a)).currentVersion).toBe(2n)
        expect((await store.readStream(b)).events.map((e) => e.type)).toEqual([type('A'), type('C')])
      })

      it('writes nothing at all when one stream conflicts', async () => {
        const a = stream('a')
        const b = stream('b')
        await store.appendToStream(b, [ev('A'), ev('A')])
        await expectCode(
          store.appendToStreams([
            { streamId: a, events: [ev('A')], expectedVersion: 'no-stream' },
            { streamId: b, events: [ev('B')], expectedVersion: 1n },
          ]),
          'ANNALS_ERR_CONCURRENCY',
        )
        expect((await store.readStream(a)).streamExists).toBe(false)
        expect((await store.readStream(b)).currentVersion).toBe(2n)
        expect((await readAllOf([type('B')])).events).toEqual([])
      })
    })

    describe('idempotent re-send and duplicate ids', () => {
      it('treats re-sending the same event ids and content at the same expected version as a no-op', async () => {
        const id = stream()
        await store.appendToStream(id, [ev('Before'), ev('Before')])
        const batch = [ev('A', { n: 1 }, { eventId: randomUUID() }), ev('B', { n: 2 }, { eventId: randomUUID() })]
        const first = await store.appendToStream(id, batch, { expectedVersion: 2n })
        expect(first.duplicate).toBe(false)
        const again = await store.appendToStream(id, batch, { expectedVersion: 2n })
        expect(again.duplicate).toBe(true)
        expect(again.events).toEqual([])
        expect(again.nextExpectedVersion).toBe(4n)
        const read = await store.readStream(id)
        expect(read.currentVersion).toBe(4n)
        expect(read.events.map((e) => e.eventId).slice(2)).toEqual(batch.map((e) => e.eventId))
      })

      it('treats a re-sent first append (expected no-stream) as a no-op', async () => {
        const id = stream()
        const batch = [ev('A', { n: 1 }, { eventId: randomUUID() })]
        await store.appendToStream(id, batch, { expectedVersion: 0n })
        const again = await store.appendToStream(id, batch, { expectedVersion: 0n })
        expect(again.duplicate).toBe(true)
        expect(again.nextExpectedVersion).toBe(1n)
        expect((await store.readStream(id)).currentVersion).toBe(1n)
      })

      it('rejects the same event id with other content with ANNALS_ERR_DUPLICATE_EVENT_ID', async () => {
        const id = stream()
        const eventId = randomUUID()
        await store.appendToStream(id, [ev('A', { n: 1 }, { eventId })], { expectedVersion: 0n })
        await expectCode(
          store.appendToStream(id, [ev('A', { n: 2 }, { eventId })], { expectedVersion: 0n }),
          'ANNALS_ERR_DUPLICATE_EVENT_ID',
        )
        await expectCode(
          store.appendToStream(id, [ev('Other', { n: 1 }, { eventId })], { expectedVersion: 'any' }),
          'ANNALS_ERR_DUPLICATE_EVENT_ID',
        )
        const read = await store.readStream(id)
        expect(read.events.map((e) => e.data)).toEqual([{ n: 1 }])
      })

      it('rejects an event id already used in another stream', async () => {
        const eventId = randomUUID()
        const a = stream('a')
        const b = stream('b')
        await store.appendToStream(a, [ev('A', { n: 1 }, { eventId })])
        await expectCode(store.appendToStream(b, [ev('A', { n: 1 }, { eventId })]), 'ANNALS_ERR_DUPLICATE_EVENT_ID')
        expect((await store.readStream(b)).streamExists).toBe(false)
      })
    })

    describe('readAll', () => {
      it('returns events after a checkpoint in commit order, with strictly increasing checkpoints', async () => {
        const start = await head()
        const a = stream('a')
        const b = stream('b')
        await store.appendToStream(a, [ev('A', { n: 1 })])
        await store.appendToStream(b, [ev('A', { n: 2 }), ev('A', { n: 3 })])
        await store.appendToStream(a, [ev('A', { n: 4 })])
        const { events } = await readAllOf([type('A')], start)
        expect(events.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }])
        expect(events.map((e) => e.streamId)).toEqual([a, b, b, a])
        for (let i = 1; i < events.length; i++) {
          const prev = events[i - 1]!
          const cur = events[i]!
          expect(
            compareCheckpoints(
              { transactionId: prev.transactionId, position: prev.globalPosition },
              { transactionId: cur.transactionId, position: cur.globalPosition },
            ),
          ).toBeLessThan(0)
        }
        const unfiltered = []
        let checkpoint = start
        for (;;) {
          const page = await store.readAll({ after: checkpoint, limit: 2 })
          unfiltered.push(...page.events.filter((e) => e.streamId === a || e.streamId === b))
          expect(compareCheckpoints(page.checkpoint, checkpoint)).toBeGreaterThanOrEqual(0)
          checkpoint = page.checkpoint
          if (page.caughtUp) break
        }
        expect(unfiltered.map((e) => e.eventId)).toEqual(events.map((e) => e.eventId))
      })

      it('resumes strictly after the checkpoint it returned', async () => {
        const id = stream()
        await store.appendToStream(id, [ev('R', { n: 1 }), ev('R', { n: 2 })])
        const first = await readAllOf([type('R')])
        expect(first.events.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }])
        await store.appendToStream(id, [ev('R', { n: 3 })])
        const next = await readAllOf([type('R')], first.checkpoint)
        expect(next.events.map((e) => e.data)).toEqual([{ n: 3 }])
        const last = next.events[0]!
        const after = await readAllOf([type('R')], { transactionId: last.transactionId, position: last.globalPosition })
        expect(after.events).toEqual([])
      })

      it('filters by type in the store', async () => {
        const id = stream()
        await store.appendToStream(id, [ev('Keep', { n: 1 }), ev('Drop'), ev('Other', { n: 2 }), ev('Keep', { n: 3 })])
        const { events } = await readAllOf([type('Keep'), type('Other')])
        expect(events.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
        expect((await readAllOf([type('Nothing')])).events).toEqual([])
      })

      it('pages with limit and reports caughtUp', async () => {
        const id = stream()
        await store.appendToStream(id, [ev('P', { n: 1 }), ev('P', { n: 2 }), ev('P', { n: 3 })])
        const page1 = await store.readAll({ types: [type('P')], limit: 2 })
        expect(page1.events.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }])
        expect(page1.caughtUp).toBe(false)
        const rest = await readAllOf([type('P')], page1.checkpoint, 2)
        expect(rest.events.map((e) => e.data)).toEqual([{ n: 3 }])
        const tail = await store.readAll({ after: rest.checkpoint, types: [type('P')], limit: 2 })
        expect(tail.events).toEqual([])
        expect(tail.caughtUp).toBe(true)
        expect(compareCheckpoints(tail.checkpoint, rest.checkpoint)).toBeGreaterThanOrEqual(0)
      })

      it('returns full envelopes with bigint positions and metadata', async () => {
        const id = stream()
        const metadata = { correlationId: randomUUID(), user: 'u1' }
        await store.appendToStream(id, [ev('Env', { n: 1 }, { metadata, schemaVersion: 2 })])
        const [event] = (await readAllOf([type('Env')])).events
        expect(event?.streamId).toBe(id)
        expect(event?.streamVersion).toBe(1n)
        expect(typeof event?.globalPosition).toBe('bigint')
        expect(typeof event?.transactionId).toBe('bigint')
        expect(event?.metadata).toEqual(metadata)
        expect(event?.schemaVersion).toBe(2)
        expect(event?.recordedAt).toBeInstanceOf(Date)
      })
    })

    describe('importToStream', () => {
      const t = (iso: string) => new Date(iso)

      it('keeps the given recordedAt times and numbers the events like an append', async () => {
        const id = stream()
        const result = await store.importToStream(id, [
          { ...ev('I', { n: 1 }), recordedAt: t('2020-01-01T10:00:00.000Z') },
          { ...ev('I', { n: 2 }), recordedAt: t('2020-01-01T10:00:00.000Z') },
          { ...ev('I', { n: 3 }), recordedAt: t('2020-01-02T10:00:00.123Z') },
        ])
        expect(result.nextExpectedVersion).toBe(3n)
        const read = await store.readStream(id)
        expect(read.events.map((e) => [e.streamVersion, e.recordedAt.toISOString()])).toEqual([
          [1n, '2020-01-01T10:00:00.000Z'],
          [2n, '2020-01-01T10:00:00.000Z'],
          [3n, '2020-01-02T10:00:00.123Z'],
        ])
        const asOf = await store.readStream(id, { untilTime: t('2020-01-01T23:59:59.999Z') })
        expect(asOf.events.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }])
      })

      it('rejects times going backwards within the batch, writing nothing', async () => {
        const id = stream()
        await expectCode(
          store.importToStream(id, [
            { ...ev('I'), recordedAt: t('2020-01-02T00:00:00Z') },
            { ...ev('I'), recordedAt: t('2020-01-01T00:00:00Z') },
          ]),
          'ANNALS_ERR_TIME_TRAVEL_BACKWARDS',
        )
        expect((await store.readStream(id)).streamExists).toBe(false)
      })

      it("rejects a time before the stream's last event", async () => {
        const id = stream()
        await store.importToStream(id, [{ ...ev('I'), recordedAt: t('2021-06-01T00:00:00Z') }])
        await expectCode(
          store.importToStream(id, [{ ...ev('I'), recordedAt: t('2021-05-31T23:59:59Z') }]),
          'ANNALS_ERR_TIME_TRAVEL_BACKWARDS',
        )
        await store.appendToStream(id, [ev('Now')])
        await expectCode(
          store.importToStream(id, [{ ...ev('I'), recordedAt: t('2021-06-02T00:00:00Z') }]),
          'ANNALS_ERR_TIME_TRAVEL_BACKWARDS',
        )
        expect((await store.readStream(id)).currentVersion).toBe(2n)
      })

      it('checks the expected version', async () => {
        const id = stream()
        await store.importToStream(id, [{ ...ev('I'), recordedAt: t('2020-01-01T00:00:00Z') }], {
          expectedVersion: 'no-stream',
        })
        await expectCode(
          store.importToStream(id, [{ ...ev('I'), recordedAt: t('2020-01-02T00:00:00Z') }], { expectedVersion: 0n }),
          'ANNALS_ERR_CONCURRENCY',
        )
      })
    })
    describe('what a store can keep', () => {
      const invalid = 'ANNALS_ERR_VALIDATION'
      const badArgument = 'ANNALS_ERR_INVALID_ARGUMENT'
      const beyond = MAX_STREAM_VERSION + 1n
      const tooLong = (base: string) => base + 'x'.repeat(12_000)

      // Each case: what the caller sends, and the path the error names (null: not asserted).
      const surrogates: [string, (id: string) => Promise<unknown>, ((id: string) => unknown[]) | null][] = [
        ['a stream id', (id) => store.appendToStream(`${id}\ud800`, [ev('A')]), null],
        ['a stream id read back', (id) => store.readStream(`${id}\udc00`), null],
        ['an event type', (id) => store.appendToStream(id, [ev('A'), { type: `${type('B')}\udbff`, data: {} }]), null],
        [
          'a data value',
          (id) => store.appendToStream(id, [ev('A', { note: ['ok', 'x\ud800y'] })]),
          (id) => [id, 0, 'data', 'note', 1],
        ],
        [
          'a data key',
          (id) => store.appendToStream(id, [ev('A', { nested: { 'k\udc00': 1 } })]),
          (id) => [id, 0, 'data', 'nested', 'k\udc00'],
        ],
        [
          'metadata',
          (id) => store.appendToStream(id, [ev('A'), ev('B', {}, { metadata: { userId: '\udfff' } })]),
          (id) => [id, 1, 'metadata', 'userId'],
        ],
        [
          'the second stream of an atomic append',
          (id) =>
            store.appendToStreams([
              { streamId: id, events: [ev('Fine')] },
              { streamId: stream(), events: [ev('A', { s: '\ud800' })] },
            ]),
          null,
        ],
      ]

      it.each(surrogates)(
        'refuses a lone surrogate in %s with ANNALS_ERR_VALIDATION, writing nothing',
        async (_, send, path) => {
          const id = stream()
          const error = (await expectCode(send(id), invalid)) as ValidationError
          expect(error.message).toContain('lone surrogate')
          if (path) expect(error.issues[0]?.path).toEqual(path(id))
          expect((await store.readStream(id)).streamExists).toBe(false)
        },
      )

      it('keeps a stream id ending in U+FFFD apart from one ending in a lone surrogate', async () => {
        // U+FFFD is what a lone surrogate becomes when encoded carelessly.
        const id = stream()
        await store.appendToStream(`${id}\ufffd`, [ev('A')])
        await expectCode(store.appendToStream(`${id}\ud800`, [ev('A')]), invalid)
        expect((await store.readStream(`${id}\ufffd`)).currentVersion).toBe(1n)
      })

      it('keeps paired surrogates, and an escaped backslash before "ud800", as ordinary text', async () => {
        const id = stream()
        await store.appendToStream(id, [ev('A', { emoji: '\ud83d\ude00', text: '\\ud800' })])
        expect((await store.readStream(id)).events[0]?.data).toEqual({ emoji: '\ud83d\ude00', text: '\\ud800' })
      })

      const longNames: [string, (id: string) => Promise<unknown>][] = [
        // Fewer characters than MAX_NAME_BYTES, more bytes (each € is three): bytes are what count.
        [
          'a stream id over MAX_NAME_BYTES bytes',
          (id) => store.appendToStream(id + '\u20ac'.repeat(MAX_NAME_BYTES / 3), [ev('A')]),
        ],
        ['a stream id of 12,000 characters', (id) => store.appendToStream(tooLong(id), [ev('A')])],
        ['a stream id of 12,000 characters read back', (id) => store.readStream(tooLong(id))],
        [
          'an event type over MAX_NAME_BYTES bytes',
          (id) => store.appendToStream(id, [{ type: 'T'.repeat(MAX_NAME_BYTES + 1), data: {} }]),
        ],
      ]

      it.each(longNames)('refuses %s with ANNALS_ERR_VALIDATION', async (_, send) => {
        const id = stream('long')
        await expectCode(send(id), invalid)
        expect((await store.readStream(id)).streamExists).toBe(false)
      })

      it('accepts a stream id of exactly MAX_NAME_BYTES bytes', async () => {
        const base = stream('long')
        const longest = base + 'a'.repeat(MAX_NAME_BYTES - base.length)
        await store.appendToStream(longest, [ev('A')])
        expect((await store.readStream(longest)).currentVersion).toBe(1n)
      })

      const outOfRange: [string, (id: string) => Promise<unknown>][] = [
        ['expectedVersion 2^63', (id) => store.appendToStream(id, [ev('A')], { expectedVersion: beyond })],
        ['expectedVersion -1n', (id) => store.appendToStream(id, [ev('A')], { expectedVersion: -1n })],
        [
          'schemaVersion 2^31',
          (id) => store.appendToStream(id, [ev('A', {}, { schemaVersion: MAX_SCHEMA_VERSION + 1 })]),
        ],
        ['readStream from 2^63', (id) => store.readStream(id, { from: beyond })],
        ['readStream to 2^63', (id) => store.readStream(id, { to: beyond })],
        ['readStream untilPosition 2^63', (id) => store.readStream(id, { untilPosition: beyond })],
        ['readAll after position 2^63', () => store.readAll({ after: { transactionId: 0n, position: beyond } })],
        [
          'readAll after transactionId 2^64',
          () => store.readAll({ after: { transactionId: 2n ** 64n, position: 0n } }),
        ],
        [
          'an imported recordedAt in the year 10000',
          (id) => store.importToStream(id, [{ ...ev('I'), recordedAt: new Date('+010000-01-01T00:00:00Z') }]),
        ],
        [
          'readStream untilTime before the year 1',
          (id) => store.readStream(id, { untilTime: new Date(Date.UTC(-1, 0, 1)) }),
        ],
      ]

      it.each(outOfRange)('refuses %s with ANNALS_ERR_INVALID_ARGUMENT, writing nothing', async (_, send) => {
        const id = stream()
        await expectCode(send(id), badArgument)
        expect((await store.readStream(id)).streamExists).toBe(false)
      })

      it('accepts the largest versions, positions and schema version', async () => {
        const id = stream()
        // The largest expected version is a value like any other: the stream is not there.
        await expectCode(
          store.appendToStream(id, [ev('A')], { expectedVersion: MAX_STREAM_VERSION }),
          'ANNALS_ERR_CONCURRENCY',
        )
        await store.appendToStream(id, [ev('A', {}, { schemaVersion: MAX_SCHEMA_VERSION })])
        expect((await store.readStream(id)).events[0]?.schemaVersion).toBe(MAX_SCHEMA_VERSION)
        const read = await store.readStream(id, { from: MAX_STREAM_VERSION, untilPosition: MAX_STREAM_VERSION })
        expect(read).toMatchObject({ events: [], currentVersion: 1n })
        const end = await store.readAll({ after: { transactionId: 2n ** 64n - 1n, position: MAX_STREAM_VERSION } })
        expect(end.events).toEqual([])
      })
    })
  })
}
