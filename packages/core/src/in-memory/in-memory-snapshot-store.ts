import type { StreamId } from '../event.js'
import {
  checkSnapshot,
  checkSnapshotQuery,
  type Snapshot,
  type SnapshotQuery,
  type SnapshotStore,
} from '../snapshot-store.js'
import { toStoredJson } from '../stored-values.js'

type StoredSnapshot = Omit<Snapshot, 'state'> & { readonly stateJson: string }

/** The in-memory snapshot store, with a way to inspect what was saved. */
export interface InMemorySnapshotStore extends SnapshotStore {
  /** Every snapshot saved for `streamId`, oldest version first (copies). */
  list(streamId: StreamId): readonly Snapshot[]
  clear(): void
}

/**
 * Creates a snapshot store that keeps every snapshot in memory. State is stored as JSON, like the
 * Postgres store does, so state that does not survive `JSON.stringify` fails here too.
 */
export function createInMemorySnapshotStore(): InMemorySnapshotStore {
  let byStream = new Map<StreamId, StoredSnapshot[]>()

  function toSnapshot<S>(stored: StoredSnapshot): Snapshot<S> {
    const { stateJson, ...rest } = stored
    return { ...rest, recordedAt: new Date(rest.recordedAt.getTime()), state: JSON.parse(stateJson) as S }
  }

  return {
    async save(snapshot: Snapshot): Promise<void> {
      checkSnapshot(snapshot)
      const stateJson = toStoredJson(snapshot.state, 'snapshot', ['state'])
      const { state: _state, ...rest } = snapshot
      const list = (byStream.get(snapshot.streamId) ?? []).filter(
        (s) => !(s.streamVersion === snapshot.streamVersion && s.stateVersion === snapshot.stateVersion),
      )
      list.push({ ...rest, recordedAt: new Date(snapshot.recordedAt.getTime()), stateJson })
      list.sort((a, b) => (a.streamVersion < b.streamVersion ? -1 : a.streamVersion > b.streamVersion ? 1 : 0))
      byStream.set(snapshot.streamId, list)
    },

    async loadLatest<S = unknown>(streamId: StreamId, query: SnapshotQuery): Promise<Snapshot<S> | null> {
      checkSnapshotQuery(streamId, query)
      const list = byStream.get(streamId) ?? []
      for (let i = list.length - 1; i >= 0; i--) {
        const s = list[i] as StoredSnapshot
        if (s.stateVersion !== query.stateVersion) continue
        if (query.maxStreamVersion !== undefined && s.streamVersion > query.maxStreamVersion) continue
        if (query.maxGlobalPosition !== undefined && s.globalPosition > query.maxGlobalPosition) continue
        if (query.maxRecordedAt !== undefined && s.recordedAt.getTime() > query.maxRecordedAt.getTime()) continue
        return toSnapshot<S>(s)
      }
      return null
    },

    list(streamId: StreamId): readonly Snapshot[] {
      return (byStream.get(streamId) ?? []).map((s) => toSnapshot(s))
    },

    clear(): void {
      byStream = new Map()
    },
  }
}
