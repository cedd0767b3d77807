import type { LogCheckpoint } from '@annals/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ReadModelSink, SinkBatch, SinkTarget } from '../sink.js'

/**
 * One fresh sink and its storage, and the means to drive and observe them without knowing what the
 * storage is. The suite stores plain string values under string keys through {@link write}.
 */
export type ReadModelSinkHarness<Ctx> = Readonly<{
  sink: ReadModelSink<Ctx>
  /** A projection name no other test uses: the suite works on its generations 1 and 2. */
  projection: string
  /** What the sink gets as `SinkTarget.schema` (the schema of the projection tables). */
  schema: string
  /** What the sink gets as `SinkTarget.tablePrefix` (the projection tables' prefix). Default none. */
  tablePrefix?: string
  /**
   * Makes `token` the fencing token of the projection's current lease holder, as the runner's lease
   * store does when a worker takes the lease. The suite then calls `sink.fence` itself, as the runner
   * does; a sink that records tokens in its own storage may do nothing here.
   */
  grantLease(token: bigint): Promise<void>
  /** Parks `count` dead letters in `generation` and returns their ids, for batches that replay them. */
  parkDeadLetters(generation: number, count: number): Promise<readonly bigint[]>
  /** Stores `value` under `key` through the handler context, as a handler would. */
  write(ctx: Ctx, key: string, value: string): void | Promise<void>
  /** What `generation` holds under `key`, read straight from the storage (`null`: nothing). */
  read(generation: number, key: string): Promise<string | null>
  /** What readers see under `key`: the live generation's value (`null`: nothing, or none is live). */
  readLive(key: string): Promise<string | null>
  /** Frees what the harness made (called after every test). */
  close?(): Promise<void>
}>

/** Builds a fresh {@link ReadModelSinkHarness} before every test of {@link readModelSinkContract}. */
export type ReadModelSinkFactory<Ctx> = () => Promise<ReadModelSinkHarness<Ctx>>

type Writes = Readonly<Record<string, string>>

const cp = (transactionId: bigint, position: bigint): LogCheckpoint => ({ transactionId, position })
// Beyond 2^53: a sink that goes through a JavaScript number loses these.
const ONE = cp(9_007_199_254_740_993n, 4n)
const TWO = cp(9_007_199_254_740_993n, 2n ** 62n)
const THREE = cp(9_007_199_254_741_000n, 1n)

/**
 * The behaviour every {@link ReadModelSink} must have, as a vitest suite: a checkpoint that starts empty
 * and moves only with a commit, the compare-and-set on it, writes that commit with it or not at all,
 * fencing of a former lease holder (commits and activation), replayed dead letters applied at most
 * once, and generations isolated from one another until one is activated.
 * @example
 * readModelSinkContract('redis', async () => {
 *   const keyPrefix = uniqueKeyPrefix('sink')
 *   const sink = createRedisSink({ redis, keyPrefix })
 *   const reader = createRedisReadModel(redis, 'p1', { keyPrefix })
 *   let nextId = 0n
 *   return {
 *     sink,
 *     projection: 'p1',
 *     schema: 'annals',
 *     grantLease: async () => {},
 *     parkDeadLetters: async (_generation, count) => Array.from({ length: count }, () => ++nextId),
 *     write: (ctx, key, value) => ctx.set(key, value),
 *     read: (generation, key) => redis.get(`${keyPrefix}{p1}:g${generation}:k:${key}`),
 *     readLive: (key) => reader.get(key),
 *     close: () => deleteKeys(redis, keyPrefix),
 *   }
 * })
 */
export function readModelSinkContract<Ctx>(name: string, factory: ReadModelSinkFactory<Ctx>): void {
  describe(`ReadModelSink contract: ${name}`, () => {
    let h: ReadModelSinkHarness<Ctx>
    let sink: ReadModelSink<Ctx>
    const location = () => ({ projection: h.projection, schema: h.schema, tablePrefix: h.tablePrefix ?? '' })
    const target = (generation: number): SinkTarget => ({ ...location(), generation })

    beforeEach(async () => {
      h = await factory()
      sink = h.sink
      await takeLease(1n)
      await sink.prepare(target(1))
      await sink.prepare(target(2))
    })
    afterEach(async () => {
      await h?.close?.()
    })

    /** What the runner does when a worker takes the lease: the new token, then a fence in every generation. */
    async function takeLease(token: bigint): Promise<void> {
      await h.grantLease(token)
      await sink.fence(target(1), token)
      await sink.fence(target(2), token)
    }

    function batch(
      options: Readonly<{
        token?: bigint
        expected: LogCheckpoint | null
        checkpoint: LogCheckpoint | null
        writes?: Writes
        replayIds?: readonly bigint[]
        fail?: Error
      }>,
    ): SinkBatch<Ctx> {
      const writes = Object.entries(options.writes ?? {})
      return {
        token: options.token ?? 1n,
        expected: options.expected,
        checkpoint: options.checkpoint,
        replayIds: options.replayIds ?? [],
        size: Math.max(1, writes.length),
        async apply(ctx) {
          for (const [key, value] of writes) await h.write(ctx, key, value)
          if (options.fail) throw options.fail
        },
      }
    }

    async function readAll(generation: number, keys: readonly string[]): Promise<Record<string, string | null>> {
      const out: Record<string, string | null> = {}
      for (const key of keys) out[key] = await h.read(generation, key)
      return out
    }

    it('starts with no checkpoint, no data and no live generation; prepare is idempotent', async () => {
      await sink.prepare(target(1))
      expect(await sink.loadCheckpoint(target(1))).toBeNull()
      expect(await sink.loadCheckpoint(target(2))).toBeNull()
      expect(await h.read(1, 'a')).toBeNull()
      expect(await h.readLive('a')).toBeNull()
      expect(await sink.liveGeneration(location())).toBeNull()
      expect(typeof sink.kind).toBe('string')
    })

    it('moves the checkpoint only with a commit, and stores it with the writes (bigints intact)', async () => {
      expect(await sink.commit(target(1), batch({ expected: null, checkpoint: ONE, writes: { a: '1' } }))).toEqual({
        status: 'committed',
      })
      expect(await sink.loadCheckpoint(target(1))).toEqual(ONE)
      expect(await h.read(1, 'a')).toBe('1')
      // A batch of events the projection ignores still moves the checkpoint.
      expect((await sink.commit(target(1), batch({ expected: ONE, checkpoint: TWO }))).status).toBe('committed')
      expect(await sink.loadCheckpoint(target(1))).toEqual(TWO)
      expect(await sink.loadCheckpoint(target(2))).toBeNull()
    })

    it('commits nothing when a handler throws: the writes before it and the checkpoint stay out', async () => {
      await sink.commit(target(1), batch({ expected: null, checkpoint: ONE, writes: { a: '1' } }))
      const boom = new Error('handler failed half-way')
      await expect(
        sink.commit(target(1), batch({ expected: ONE, checkpoint: TWO, writes: { a: '2', b: '2' }, fail: boom })),
      ).rejects.toThrow()
      expect(await sink.loadCheckpoint(target(1))).toEqual(ONE)
      expect(await readAll(1, ['a', 'b'])).toEqual({ a: '1', b: null })
    })

    it('compare-and-sets the checkpoint: a stale expectation is a conflict carrying the actual one, and writes nothing', async () => {
      expect(await sink.commit(target(1), batch({ expected: ONE, checkpoint: TWO, writes: { a: 'x' } }))).toEqual({
        status: 'conflict',
        actual: null,
      })
      expect(await h.read(1, 'a')).toBeNull()
      await sink.commit(target(1), batch({ expected: null, checkpoint: ONE, writes: { a: '1' } }))
      for (const expected of [null, TWO, cp(ONE.transactionId, ONE.position + 1n)]) {
        expect(await sink.commit(target(1), batch({ expected, checkpoint: THREE, writes: { a: 'x' } }))).toEqual({
          status: 'conflict',
          actual: ONE,
        })
      }
      expect(await sink.loadCheckpoint(target(1))).toEqual(ONE)
      expect(await h.read(1, 'a')).toBe('1')
    })

    it('never applies a batch twice: re-committing a committed batch is a conflict and changes nothing', async () => {
      const first = batch({ expected: null, checkpoint: ONE, writes: { a: '1', b: '1' } })
      expect((await sink.commit(target(1), first)).status).toBe('committed')
      expect((await sink.commit(target(1), batch({ expected: ONE, checkpoint: TWO, writes: { a: '2' } }))).status).toBe(
        'committed',
      )
      expect(await sink.commit(target(1), first)).toEqual({ status: 'conflict', actual: TWO })
      expect(await sink.loadCheckpoint(target(1))).toEqual(TWO)
      expect(await readAll(1, ['a', 'b'])).toEqual({ a: '2', b: '1' })
    })

    it('lets one of two racing commits from the same checkpoint win', async () => {
      await sink.commit(target(1), batch({ expected: null, checkpoint: ONE }))
      const results = await Promise.all([
        sink.commit(target(1), batch({ expected: ONE, checkpoint: TWO, writes: { a: 'two' } })),
        sink.commit(target(1), batch({ expected: ONE, checkpoint: THREE, writes: { a: 'three' } })),
      ])
      const statuses = results.map((r) => r.status)
      expect(statuses.filter((s) => s === 'committed')).toHaveLength(1)
      expect(statuses.filter((s) => s === 'conflict')).toHaveLength(1)
      const winner = statuses[0] === 'committed' ? TWO : THREE
      expect(await sink.loadCheckpoint(target(1))).toEqual(winner)
    })

    it('fences a former lease holder as soon as the new one fences, before the new holder commits', async () => {
      await sink.commit(target(1), batch({ expected: null, checkpoint: ONE, writes: { a: '1' } }))
      await takeLease(2n)
      const zombie = await sink.commit(
        target(1),
        batch({ token: 1n, expected: ONE, checkpoint: TWO, writes: { a: 'z' } }),
      )
      expect(zombie).toEqual({ status: 'fenced' })
      expect(await sink.loadCheckpoint(target(1))).toEqual(ONE)
      expect(await h.read(1, 'a')).toBe('1')
      // The building generation is fenced too.
      const building = await sink.commit(
        target(2),
        batch({ token: 1n, expected: null, checkpoint: ONE, writes: { a: 'z' } }),
      )
      expect(building).toEqual({ status: 'fenced' })
      expect(await sink.loadCheckpoint(target(2))).toBeNull()
      expect(await h.read(2, 'a')).toBeNull()
      const owner = await sink.commit(
        target(1),
        batch({ token: 2n, expected: ONE, checkpoint: TWO, writes: { a: '2' } }),
      )
      expect(owner).toEqual({ status: 'committed' })
      expect(await h.read(1, 'a')).toBe('2')
    })

    it('isolates generations: a building one has its own data and checkpoint, invisible until activated', async () => {
      await sink.commit(target(1), batch({ expected: null, checkpoint: TWO, writes: { a: 'live' } }))
      expect(await sink.activate(target(1), 1n)).toBe(true)
      expect(await sink.liveGeneration(location())).toBe(1)
      expect(await h.readLive('a')).toBe('live')

      expect(
        (await sink.commit(target(2), batch({ expected: null, checkpoint: ONE, writes: { a: 'new', b: 'new' } })))
          .status,
      ).toBe('committed')
      expect(await sink.loadCheckpoint(target(2))).toEqual(ONE)
      expect(await sink.loadCheckpoint(target(1))).toEqual(TWO)
      expect(await readAll(1, ['a', 'b'])).toEqual({ a: 'live', b: null })
      expect(await h.readLive('a')).toBe('live')
      expect(await h.readLive('b')).toBeNull()

      expect(await sink.activate(target(2), 1n)).toBe(true)
      expect(await sink.liveGeneration(location())).toBe(2)
      expect(await h.readLive('a')).toBe('new')
      expect(await h.readLive('b')).toBe('new')
    })

    it('refuses to activate for a fenced token and leaves readers where they were', async () => {
      await sink.commit(target(1), batch({ expected: null, checkpoint: ONE, writes: { a: 'one' } }))
      expect(await sink.activate(target(1), 1n)).toBe(true)
      await sink.commit(target(2), batch({ expected: null, checkpoint: ONE, writes: { a: 'two' } }))
      await takeLease(2n)
      expect(await sink.activate(target(2), 1n)).toBe(false)
      expect(await sink.liveGeneration(location())).toBe(1)
      expect(await h.readLive('a')).toBe('one')
      expect(await sink.activate(target(2), 2n)).toBe(true)
      expect(await h.readLive('a')).toBe('two')
    })

    it('drops a retired generation: its data and checkpoint go, the live one stays', async () => {
      await sink.commit(target(1), batch({ expected: null, checkpoint: ONE, writes: { a: 'old' } }))
      await sink.commit(target(2), batch({ expected: null, checkpoint: TWO, writes: { a: 'new' } }))
      expect(await sink.activate(target(2), 1n)).toBe(true)
      await sink.drop(target(1))
      expect(await sink.loadCheckpoint(target(1))).toBeNull()
      expect(await h.read(1, 'a')).toBeNull()
      expect(await sink.loadCheckpoint(target(2))).toEqual(TWO)
      expect(await h.readLive('a')).toBe('new')
    })

    it('applies replayed dead letters at most once, keeping the checkpoint when the batch carries none', async () => {
      await sink.commit(target(1), batch({ expected: null, checkpoint: ONE }))
      const [first, second] = await h.parkDeadLetters(1, 2)
      if (first === undefined || second === undefined) throw new Error('parkDeadLetters returned fewer ids than asked')
      const replay = (ids: readonly bigint[], value: string) =>
        sink.commit(target(1), batch({ expected: ONE, checkpoint: null, replayIds: ids, writes: { r: value } }))
      expect(await replay([first], 'first')).toEqual({ status: 'committed' })
      expect(await sink.loadCheckpoint(target(1))).toEqual(ONE)
      expect(await h.read(1, 'r')).toBe('first')
      // A replay that crashed after its commit is retried: none of it may land again.
      expect(await replay([first], 'again')).toEqual({ status: 'duplicate' })
      expect(await replay([first, second], 'both')).toEqual({ status: 'duplicate' })
      expect(await h.read(1, 'r')).toBe('first')
      expect(await replay([second], 'second')).toEqual({ status: 'committed' })
      expect(await h.read(1, 'r')).toBe('second')
      expect(await sink.loadCheckpoint(target(1))).toEqual(ONE)
    })
  })
}
