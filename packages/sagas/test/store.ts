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
/** The Postgres event store the integration tests use: @annals/store-postgres once it exports its API. */
export const pgStore: Api =
  typeof candidate.createPostgresEventStore === 'function' && typeof candidate.migrate === 'function'
    ? (candidate as Api)
    : interim
/** True while @annals/store-postgres has not landed (the tests then say so). */
export const usingInterimStore = pgStore === interim
