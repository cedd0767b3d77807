import {
  createPostgresEventStore,
  createPostgresIdempotencyStore,
  createPostgresLogWatcher,
  createPostgresSnapshotStore,
  migrate,
} from '@annals/store-postgres'
import type pg from 'pg'
import type { WriteSide } from './servers.js'

/** The write side on PostgreSQL (@annals/store-postgres): migrates, then event, snapshot and idempotency stores. */
export async function postgresWriteSide(pool: pg.Pool, schema = 'bank'): Promise<WriteSide> {
  await migrate({ pool, schema })
  const watcher = createPostgresLogWatcher({ pool, schema })
  return {
    store: createPostgresEventStore({ pool, schema }),
    // All snapshots are kept: time travel into any part of the history starts near its target.
    snapshots: createPostgresSnapshotStore({ pool, schema, keep: 'all' }),
    idempotency: createPostgresIdempotencyStore({ pool, schema }),
    watcher,
    describe: `PostgreSQL event store (schema ${schema})`,
    release: () => watcher.close(),
  }
}
