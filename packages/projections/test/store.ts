import type { EventStore, LogWatcher } from '@annals/core'
import * as real from '@annals/store-postgres'
import type pg from 'pg'
import * as interim from './interim-pg-store.js'

type Api = Readonly<{
  migrate(o: { pool: pg.Pool; schema: string }): Promise<unknown>
  createPostgresEventStore(o: { pool: pg.Pool; schema: string }): EventStore
  createPostgresLogWatcher(o: { pool: pg.Pool; schema: string }): LogWatcher | Promise<LogWatcher>
}>

const candidate = real as unknown as Partial<Api>
/** The Postgres store the integration tests use: @annals/store-postgres once it exports its API. */
export const pgStore: Api =
  typeof candidate.createPostgresEventStore === 'function' && typeof candidate.migrate === 'function'
    ? (candidate as Api)
    : interim
export const usingInterimStore = pgStore === interim
/** The qualified events table of the store in schema `annals` (for direct checks in tests). */
export const EVENTS_TABLE = 'annals.events'
