import type { EventStore, LogWatcher } from '@annals/core'
import { createPostgresEventStore, createPostgresLogWatcher, migrate } from '@annals/store-postgres'
import type pg from 'pg'

/** The Postgres store the integration tests use (@annals/store-postgres), with a watcher that is listening. */
export const pgStore = {
  migrate: (o: { pool: pg.Pool; schema: string }) => migrate(o),
  createPostgresEventStore: (o: { pool: pg.Pool; schema: string }): EventStore => createPostgresEventStore(o),
  async createPostgresLogWatcher(o: { pool: pg.Pool; schema: string }): Promise<LogWatcher> {
    const watcher = createPostgresLogWatcher(o)
    await watcher.ready()
    return watcher
  },
}

/** The qualified events table of the store in schema `annals` (for direct checks in tests). */
export const EVENTS_TABLE = 'annals.events'
