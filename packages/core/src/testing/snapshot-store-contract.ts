import { randomUUID } from 'node:crypto'
import { beforeEach, describe, expect, it } from 'vitest'
import type { Snapshot, SnapshotStore } from '../snapshot-store.js'
import { MAX_NAME_BYTES, MAX_SCHEMA_VERSION, MAX_STREAM_VERSION } from '../stored-values.js'
import { expectCode } from './expect-code.js'

/** Creates the snapshot store under test; called before every test (it may return a shared store). */
export type SnapshotStoreFactory = () => SnapshotStore | Promise<SnapshotStore>

/**
 * The behaviour every `SnapshotStore` implementation must have: newest snapshot within the bounds of
 * the query, only of the asked state version, state round-tripped as JSON.
 */
export function snapshotStoreContract(name: string, factory: SnapshotStoreFactory): void {
  describe(`SnapshotStore contract: ${name}`, () => {
    let store: SnapshotStore
    let streamId: string
    const snap = (version: bigint, stateVersion = 1, state: unknown = { v: Number(version) }): Snapshot => ({
      streamId,
      streamVersion: version,
      globalPosition: 1000n + version * 10n,
      recordedAt: new Date(Date.UTC(2024, 0, Number(version))),
      stateVersion,
      state,
    })

    beforeEach(async () => {
      store = await factory()
      streamId = `snap-${randomUUID()}`
    })

    it('returns null when there is no snapshot', async () => {
      expect(await store.loadLatest(streamId, { stateVersion: 1 })).toBeNull()
    })

    it('returns the newest snapshot with its fields and JSON state', async () => {
      const state = { balance: '12345678901234567890', list: [1, { a: null }], text: 'ü' }
      await store.save(snap(3n, 1, state))
      await store.save(snap(5n))
      await store.save(snap(4n))
      const latest = await store.loadLatest(streamId, { stateVersion: 1 })
      expect(latest).toEqual(snap(5n))
      const third = await store.loadLatest(streamId, { stateVersion: 1, maxStreamVersion: 3n })
      expect(third?.state).toEqual(state)
      expect(typeof third?.streamVersion).toBe('bigint')
      expect(typeof third?.globalPosition).toBe('bigint')
      expect(third?.recordedAt).toBeInstanceOf(Date)
    })

    it('ignores snapshots of another state version', async () => {
      await store.save(snap(2n, 1))
      await store.save(snap(6n, 2))
      expect((await store.loadLatest(streamId, { stateVersion: 1 }))?.streamVersion).toBe(2n)
      expect((await store.loadLatest(streamId, { stateVersion: 2 }))?.streamVersion).toBe(6n)
      expect(await store.loadLatest(streamId, { stateVersion: 3 })).toBeNull()
    })

    it('honours maxStreamVersion, maxGlobalPosition and maxRecordedAt (inclusive)', async () => {
      for (const v of [2n, 4n, 6n]) await store.save(snap(v))
      const at = async (query: Omit<Parameters<SnapshotStore['loadLatest']>[1], 'stateVersion'>) =>
        (await store.loadLatest(streamId, { stateVersion: 1, ...query }))?.streamVersion ?? null
      expect(await at({ maxStreamVersion: 5n })).toBe(4n)
      expect(await at({ maxStreamVersion: 4n })).toBe(4n)
      expect(await at({ maxStreamVersion: 1n })).toBeNull()
      expect(await at({ maxGlobalPosition: 1000n + 40n })).toBe(4n)
      expect(await at({ maxGlobalPosition: 1000n + 39n })).toBe(2n)
      expect(await at({ maxRecordedAt: new Date(Date.UTC(2024, 0, 6)) })).toBe(6n)
      expect(await at({ maxRecordedAt: new Date(Date.UTC(2024, 0, 5, 23)) })).toBe(4n)
      expect(await at({ maxStreamVersion: 6n, maxGlobalPosition: 1000n + 20n })).toBe(2n)
    })

    it('keeps snapshots of different streams apart', async () => {
      await store.save(snap(2n))
      expect(await store.loadLatest(`${streamId}-other`, { stateVersion: 1 })).toBeNull()
    })
    it('refuses what a store cannot keep: lone surrogates, long ids, versions beyond their columns', async () => {
      const invalid = 'ANNALS_ERR_VALIDATION'
      const badArgument = 'ANNALS_ERR_INVALID_ARGUMENT'
      await expectCode(store.save({ ...snap(1n), state: { 'k\ud800': 1 } }), invalid)
      await expectCode(store.save({ ...snap(1n), streamId: `${streamId}\udc00` }), invalid)
      await expectCode(store.save({ ...snap(1n), streamId: streamId + 'x'.repeat(MAX_NAME_BYTES) }), invalid)
      await expectCode(store.save(snap(MAX_STREAM_VERSION + 1n)), badArgument)
      await expectCode(store.save({ ...snap(1n), globalPosition: MAX_STREAM_VERSION + 1n }), badArgument)
      await expectCode(store.save(snap(1n, MAX_SCHEMA_VERSION + 1)), badArgument)
      await expectCode(store.save({ ...snap(1n), recordedAt: new Date('+010000-01-01T00:00:00Z') }), badArgument)
      await expectCode(store.loadLatest(streamId, { stateVersion: MAX_SCHEMA_VERSION + 1 }), badArgument)
      await expectCode(
        store.loadLatest(streamId, { stateVersion: 1, maxStreamVersion: MAX_STREAM_VERSION + 1n }),
        badArgument,
      )
      await expectCode(store.loadLatest(`${streamId}\ud800`, { stateVersion: 1 }), invalid)
      expect(await store.loadLatest(streamId, { stateVersion: 1 })).toBeNull()
      await store.save({ ...snap(1n, MAX_SCHEMA_VERSION), streamVersion: MAX_STREAM_VERSION })
      expect((await store.loadLatest(streamId, { stateVersion: MAX_SCHEMA_VERSION }))?.streamVersion).toBe(
        MAX_STREAM_VERSION,
      )
    })
  })
}
