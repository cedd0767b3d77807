import type { CheckpointStore, LogCheckpoint } from '@annals/core'
import { checkLogCheckpoint, checkName } from '@annals/core/runtime'
import type pg from 'pg'
import { type SqlRunner, type StoreConnection, toExecutor } from './sql/executor.js'
import { storeTables } from './store-tables.js'
import { checkTenant, DEFAULT_TENANT, tenantRunner } from './tenancy.js'

/** Options of {@link createPostgresCheckpointStore}. */
export type PostgresCheckpointStoreOptions = StoreConnection &
  CheckpointTableOptions &
  Readonly<{
    /** The pool's role is subject to row-level security: each statement runs with the tenant setting. */
    rowLevelSecurity?: boolean
  }>

/** Where {@link storeCheckpointInTransaction} writes: the store's schema and prefix, and the consumers' tenant. */
export type CheckpointTableOptions = Readonly<{
  schema?: string
  tablePrefix?: string
  /** The tenant whose consumers these are (default the default tenant): a per-tenant projection's checkpoints. */
  tenant?: string
}>

type Sql = { tenant: string; load: string; upsert: string; insert: string; update: string }

// Every statement takes the tenant as its last parameter.
function statements(options: CheckpointTableOptions): Sql {
  const t = storeTables(options).checkpoints
  const tenant = options.tenant === undefined ? DEFAULT_TENANT : checkTenant(options.tenant, 'tenant')
  return {
    tenant,
    load: `SELECT transaction_id::text AS tx, position::text AS pos FROM ${t} WHERE tenant_id = $2 AND consumer = $1`,
    upsert: `INSERT INTO ${t} (tenant_id, consumer, transaction_id, position) VALUES ($4, $1, $2::xid8, $3::bigint)
      ON CONFLICT (tenant_id, consumer) DO UPDATE SET transaction_id = excluded.transaction_id, position = excluded.position,
        updated_at = now()
      RETURNING 1 AS ok`,
    insert: `INSERT INTO ${t} (tenant_id, consumer, transaction_id, position) VALUES ($4, $1, $2::xid8, $3::bigint)
      ON CONFLICT (tenant_id, consumer) DO NOTHING RETURNING 1 AS ok`,
    update: `UPDATE ${t} SET transaction_id = $2::xid8, position = $3::bigint, updated_at = now()
      WHERE tenant_id = $6 AND consumer = $1 AND transaction_id = $4::xid8 AND position = $5::bigint RETURNING 1 AS ok`,
  }
}

async function store(
  runner: SqlRunner,
  sql: Sql,
  consumer: string,
  checkpoint: LogCheckpoint,
  expected: LogCheckpoint | null | undefined,
): Promise<boolean> {
  checkName(consumer, 'checkpoint', ['consumer'])
  checkLogCheckpoint(checkpoint, 'checkpoint')
  if (expected) checkLogCheckpoint(expected, 'expected')
  const at = [consumer, checkpoint.transactionId.toString(), checkpoint.position.toString()]
  if (expected === undefined) return (await runner.query(sql.upsert, [...at, sql.tenant])).length === 1
  if (expected === null) return (await runner.query(sql.insert, [...at, sql.tenant])).length === 1
  const rows = await runner.query(sql.update, [
    ...at,
    expected.transactionId.toString(),
    expected.position.toString(),
    sql.tenant,
  ])
  return rows.length === 1
}

/** Creates the Postgres checkpoint store (table `checkpoints`), with compare-and-set. */
export function createPostgresCheckpointStore(options: PostgresCheckpointStoreOptions): CheckpointStore {
  const sql = statements(options)
  const executor = tenantRunner(toExecutor(options), {
    tenant: sql.tenant,
    rowLevelSecurity: options.rowLevelSecurity === true,
  })
  return {
    async load(consumer: string): Promise<LogCheckpoint | null> {
      checkName(consumer, 'checkpoint', ['consumer'])
      const [row] = await executor.query<{ tx: string; pos: string }>(sql.load, [consumer, sql.tenant])
      return row ? { transactionId: BigInt(row.tx), position: BigInt(row.pos) } : null
    },
    store: (consumer, checkpoint, expected) => store(executor, sql, consumer, checkpoint, expected),
  }
}

/**
 * Stores a checkpoint with the caller's own client, inside the caller's open transaction, so that a
 * Postgres read model commits its writes and its checkpoint atomically. Same compare-and-set rules as
 * `CheckpointStore.store`.
 * @example
 * await client.query('BEGIN'); await writeReadModel(client)
 * if (!(await storeCheckpointInTransaction(client, { consumer, checkpoint, expected }))) await client.query('ROLLBACK')
 */
export function storeCheckpointInTransaction(
  client: pg.PoolClient | pg.Client,
  options: CheckpointTableOptions &
    Readonly<{ consumer: string; checkpoint: LogCheckpoint; expected?: LogCheckpoint | null }>,
): Promise<boolean> {
  const runner: SqlRunner = {
    async query<R>(text: string, values?: readonly unknown[]): Promise<R[]> {
      return (await client.query({ text, values: values as unknown[] })).rows as R[]
    },
  }
  return store(runner, statements(options), options.consumer, options.checkpoint, options.expected)
}

/** Loads a checkpoint with the caller's own client (for example inside the transaction that will store it). */
export async function loadCheckpointInTransaction(
  client: pg.PoolClient | pg.Client,
  options: CheckpointTableOptions & Readonly<{ consumer: string }>,
): Promise<LogCheckpoint | null> {
  checkName(options.consumer, 'checkpoint', ['consumer'])
  const sql = statements(options)
  const { rows } = await client.query<{ tx: string; pos: string }>({
    text: sql.load,
    values: [options.consumer, sql.tenant],
  })
  const row = rows[0]
  return row ? { transactionId: BigInt(row.tx), position: BigInt(row.pos) } : null
}
