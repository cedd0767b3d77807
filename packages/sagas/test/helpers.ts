import { fileURLToPath } from 'node:url'
import { createCommandHandler, type EventStore } from '@annals/core'
import { createTestDatabase as createStoreTestDatabase } from '@annals/store-postgres/testing'
import { killAllSpawned, type SpawnedProcess, spawnTs, waitFor } from '@annals/test-support'
import type pg from 'pg'
import { afterAll, beforeAll } from 'vitest'
import { Account, Mailbox, Payout } from '../examples/bank-transfer.js'
import { migrateSagas } from '../src/postgres/migrate-sagas.js'
import { pgStore } from './store.js'

export const PG_ADMIN_URL = process.env.ANNALS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** Creates a throwaway database (the store's test helper); `drop()` removes it. `url` is its connection string. */
export async function createTestDatabase(prefix = 'annals_sagas') {
  const db = await createStoreTestDatabase(prefix, { adminUrl: PG_ADMIN_URL })
  return { name: db.name, url: db.connectionString, pool: db.pool, drop: db.drop }
}

/**
 * The file's test database: created before its tests, dropped after them once every worker process
 * they spawned is killed. Read `pool`/`url` inside tests (they exist only after the setup ran).
 */
export function useTestDatabase(prefix?: string): Readonly<{ pool: pg.Pool; url: string }> {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined
  const current = () => {
    if (!db) throw new Error('the test database is created in beforeAll: use it inside a test')
    return db
  }
  beforeAll(async () => {
    db = await createTestDatabase(prefix)
  })
  afterAll(async () => {
    await killAllSpawned()
    await db?.drop()
  })
  return {
    get pool() {
      return current().pool
    },
    get url() {
      return current().url
    },
  }
}

const WORKER = fileURLToPath(new URL('./saga-worker-process.ts', import.meta.url))
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url))

/** A saga worker child process (see saga-worker-process.ts), SIGKILLed by `kill()`. */
export type WorkerProcess = SpawnedProcess

/** Spawns the worker; `env` configures it (see saga-worker-process.ts). */
export function spawnWorker(env: Record<string, string>): WorkerProcess {
  return spawnTs(WORKER, { env, cwd: PACKAGE_DIR })
}

/** One isolated world in a schema of the test database: event store, saga tables, command handlers. */
export async function createWorld(pool: pg.Pool, schema: string) {
  await pgStore.migrate({ pool, schema })
  await migrateSagas({ pool, schema })
  const store: EventStore = pgStore.createPostgresEventStore({ pool, schema })
  const accounts = createCommandHandler(Account, { store })
  const mailboxes = createCommandHandler(Mailbox, { store })
  const payouts = createCommandHandler(Payout, { store })
  return {
    schema,
    store,
    accounts,
    mailboxes,
    payouts,
    async open(accountId: string, currency: string, balance: number) {
      await accounts.handle({ type: 'OpenAccount', data: { accountId, currency } })
      if (balance > 0) await accounts.handle({ type: 'Deposit', data: { accountId, amount: balance } })
    },
    async balance(accountId: string) {
      const { state } = await accounts.load(`account-${accountId}`)
      return state.status === 'none' ? null : state.balance
    },
    async types(streamId: string) {
      return (await store.readStream(streamId)).events.map((e) => e.type)
    },
    async status(saga: string, sagaId: string) {
      const { rows } = await pool.query<{ status: string }>(
        `SELECT status FROM "${schema}".saga_instances WHERE saga = $1 AND saga_id = $2`,
        [saga, sagaId],
      )
      return rows[0]?.status ?? null
    },
  }
}

/** Waits until the instance's row shows an end state, and returns it. */
export async function settled(
  world: Awaited<ReturnType<typeof createWorld>>,
  saga: string,
  sagaId: string,
  worker?: WorkerProcess,
  timeoutMs = 90_000,
) {
  try {
    return await waitFor(
      `saga ${saga}/${sagaId} to end`,
      async () => {
        const status = await world.status(saga, sagaId)
        return status === 'completed' || status === 'compensated' || status === 'failed' ? status : null
      },
      timeoutMs,
    )
  } catch (error) {
    throw new Error(`${(error as Error).message}\nworker output:\n${worker?.output() ?? '(none)'}`)
  }
}
