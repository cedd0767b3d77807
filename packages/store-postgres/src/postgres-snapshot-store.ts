import type { Snapshot, SnapshotQuery, SnapshotStore, StreamId } from '@annals/core'
import { checkSnapshot, checkSnapshotQuery, toStoredJson } from '@annals/core/runtime'
import { PgInvalidOptionError } from './errors.js'
import { mapPgError } from './map-pg-error.js'
import { type StoreConnection, toExecutor } from './sql/executor.js'
import { storeTables } from './store-tables.js'
import { checkTenant, DEFAULT_TENANT, tenantRunner } from './tenancy.js'

/** Options of {@link createPostgresSnapshotStore}. */
export type PostgresSnapshotStoreOptions = StoreConnection &
  Readonly<{
    schema?: string
    tablePrefix?: string
    /** Snapshots kept per stream and state version (the newest). Default 10; `'all'` keeps every one. */
    keep?: number | 'all'
    /** The tenant whose snapshots these are (default the default tenant). */
    tenant?: string
    /** The pool's role is subject to row-level security: each statement runs with the tenant setting. */
    rowLevelSecurity?: boolean
  }>

type SnapshotRow = {
  stream_id: string
  stream_version: string
  global_position: string
  recorded_ms: string
  state_version: string | number
  state: string
}

/**
 * Creates the Postgres snapshot store. Save snapshots only after their events committed (the command
 * handler does); several per stream are kept so time travel starts near its target.
 */
export function createPostgresSnapshotStore(options: PostgresSnapshotStoreOptions): SnapshotStore {
  const names = storeTables(options)
  const tenant = options.tenant === undefined ? DEFAULT_TENANT : checkTenant(options.tenant, 'tenant')
  const runner = tenantRunner(toExecutor(options), { tenant, rowLevelSecurity: options.rowLevelSecurity === true })
  // Every statement takes the tenant as its last parameter.
  const executor = {
    query: <R>(text: string, values: readonly unknown[]) => runner.query<R>(text, [...values, tenant]),
  }
  const keep = options.keep ?? 10
  if (keep !== 'all' && (!Number.isInteger(keep) || keep < 1)) {
    throw new PgInvalidOptionError('keep', "must be an integer >= 1 or 'all'")
  }
  const upsert = `INSERT INTO ${names.snapshots} (tenant_id, stream_id, state_version, stream_version, global_position, recorded_at, state)
    VALUES ($7, $1, $2::integer, $3::bigint, $4::bigint, $5::timestamptz, $6::jsonb)
    ON CONFLICT (tenant_id, stream_id, state_version, stream_version) DO UPDATE
      SET global_position = excluded.global_position, recorded_at = excluded.recorded_at, state = excluded.state,
          created_at = now()`
  // Retention: drop all but the newest `keep` of this stream and state version.
  const prune = `DELETE FROM ${names.snapshots} d
    WHERE d.tenant_id = $4 AND d.stream_id = $1 AND d.state_version = $2::integer AND d.stream_version < (
      SELECT k.stream_version FROM ${names.snapshots} k
      WHERE k.tenant_id = $4 AND k.stream_id = $1 AND k.state_version = $2::integer
      ORDER BY k.stream_version DESC OFFSET $3::integer LIMIT 1
    )`
  const load = `SELECT s.stream_id, s.stream_version::text AS stream_version, s.global_position::text AS global_position,
      (extract(epoch FROM s.recorded_at) * 1000)::bigint::text AS recorded_ms, s.state_version, s.state::text AS state
    FROM ${names.snapshots} s
    WHERE s.tenant_id = $6 AND s.stream_id = $1 AND s.state_version = $2::integer
      AND ($3::bigint IS NULL OR s.stream_version <= $3::bigint)
      AND ($4::bigint IS NULL OR s.global_position <= $4::bigint)
      AND ($5::timestamptz IS NULL OR s.recorded_at <= $5::timestamptz)
    ORDER BY s.stream_version DESC
    LIMIT 1`

  return {
    async save(snapshot: Snapshot): Promise<void> {
      checkSnapshot(snapshot)
      const state = toStoredJson(snapshot.state, 'snapshot', ['state'])
      try {
        await executor.query(upsert, [
          snapshot.streamId,
          snapshot.stateVersion,
          snapshot.streamVersion.toString(),
          snapshot.globalPosition.toString(),
          snapshot.recordedAt.toISOString(),
          state,
        ])
        if (keep !== 'all') await executor.query(prune, [snapshot.streamId, snapshot.stateVersion, keep - 1])
      } catch (error) {
        throw mapPgError(error, { schema: names.schema, streams: [snapshot.streamId], expected: [] })
      }
    },

    async loadLatest<S = unknown>(streamId: StreamId, query: SnapshotQuery): Promise<Snapshot<S> | null> {
      checkSnapshotQuery(streamId, query)
      let rows: SnapshotRow[]
      try {
        rows = await executor.query<SnapshotRow>(load, [
          streamId,
          query.stateVersion,
          query.maxStreamVersion?.toString() ?? null,
          query.maxGlobalPosition?.toString() ?? null,
          query.maxRecordedAt?.toISOString() ?? null,
        ])
      } catch (error) {
        throw mapPgError(error, { schema: names.schema, streams: [streamId], expected: [] })
      }
      const row = rows[0]
      if (!row) return null
      return {
        streamId: row.stream_id,
        streamVersion: BigInt(row.stream_version),
        globalPosition: BigInt(row.global_position),
        recordedAt: new Date(Number(row.recorded_ms)),
        stateVersion: Number(row.state_version),
        state: JSON.parse(row.state) as S,
      }
    },
  }
}
