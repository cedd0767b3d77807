import {
  checkpointStoreContract,
  eventStoreContract,
  idempotencyStoreContract,
  snapshotStoreContract,
} from '@annals/core/testing'
import { afterAll, beforeAll, inject } from 'vitest'
import { createPostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { migrate } from '../src/migrate.js'
import { createPostgresCheckpointStore } from '../src/postgres-checkpoint-store.js'
import { createPostgresIdempotencyStore } from '../src/postgres-idempotency-store.js'
import { createPostgresSnapshotStore } from '../src/postgres-snapshot-store.js'
import { createTestDatabase, type TestDatabase } from '../src/testing/test-database.js'

let db: TestDatabase
const schema = 'contract'
const tablePrefix = 'es_'

beforeAll(async () => {
  // readAll waits for every older transaction on the server: a private cluster keeps others' out.
  db = await createTestDatabase('annals_pg', { adminUrl: inject('annalsPrivatePgUrl') })
  await migrate({ pool: db.pool, schema, tablePrefix })
})
afterAll(async () => {
  await db?.drop()
})

eventStoreContract('postgres', () => createPostgresEventStore({ pool: db.pool, schema, tablePrefix }))
snapshotStoreContract('postgres', () => createPostgresSnapshotStore({ pool: db.pool, schema, tablePrefix }))
checkpointStoreContract('postgres', () => createPostgresCheckpointStore({ pool: db.pool, schema, tablePrefix }))
idempotencyStoreContract('postgres', () => createPostgresIdempotencyStore({ pool: db.pool, schema, tablePrefix }))
