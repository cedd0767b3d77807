import { createPostgresEventStore, createPostgresLogWatcher, migrate } from '@annals/store-postgres'

/** The Postgres event store the integration tests and the worker process use. */
export const pgStore = { migrate, createPostgresEventStore, createPostgresLogWatcher }
