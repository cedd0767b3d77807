import { IdempotencyKeyReusedError, type IdempotencyStore } from '@annals/core'
import { storeNames } from './identifiers.js'
import { type SqlRunner, type StoreConnection, toExecutor } from './sql-executor.js'
import { checkText, toJsonText } from './validation.js'

/** Options of {@link createPostgresIdempotencyStore}. */
export type PostgresIdempotencyStoreOptions = StoreConnection & Readonly<{ schema?: string; tablePrefix?: string }>

type Row = { fingerprint: string; result: string }

/**
 * Creates the idempotency store on table `idempotency_keys`. Two callers racing with one key: the
 * first takes a transaction-scoped advisory lock on the key's hash and runs `work`; the other waits
 * on the lock and then replays the stored result. The winner holds one pool connection while `work`
 * runs. On PGlite (one connection) the race is settled by an in-process lock instead: one process only.
 */
export function createPostgresIdempotencyStore(options: PostgresIdempotencyStoreOptions): IdempotencyStore {
  const names = storeNames(options.schema ?? 'annals', options.tablePrefix ?? '')
  const executor = toExecutor(options)
  const lockSpace = `${names.schema}.${names.prefix}idempotency_keys`
  const select = `SELECT fingerprint, result::text AS result FROM ${names.idempotencyKeys} WHERE key = $1`
  const insert = `INSERT INTO ${names.idempotencyKeys} (key, fingerprint, result) VALUES ($1, $2, $3::jsonb)`
  const local = new Map<string, Promise<unknown>>()

  function replay<R>(key: string, fingerprint: string, row: Row): { result: R; replayed: boolean } {
    if (row.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(key)
    return { result: JSON.parse(row.result) as R, replayed: true }
  }

  async function once<R>(
    runner: SqlRunner,
    key: string,
    fingerprint: string,
    work: () => Promise<R>,
  ): Promise<{ result: R; replayed: boolean }> {
    const [row] = await runner.query<Row>(select, [key])
    if (row) return replay<R>(key, fingerprint, row)
    const result = await work()
    await runner.query(insert, [key, fingerprint, toJsonText(result ?? null, 'idempotent result', [key])])
    return { result, replayed: false }
  }

  return {
    async execute<R>(key: string, fingerprint: string, work: () => Promise<R>) {
      checkText(key, 'idempotency key', ['key'])
      const [found] = await executor.query<Row>(select, [key])
      if (found) return replay<R>(key, fingerprint, found)
      if (executor.kind === 'pglite') {
        for (;;) {
          const running = local.get(key)
          if (!running) break
          await running.catch(() => undefined)
        }
        const attempt = once(executor, key, fingerprint, work)
        local.set(key, attempt)
        try {
          return await attempt
        } finally {
          local.delete(key)
        }
      }
      return executor.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [lockSpace, key])
        return once(tx, key, fingerprint, work)
      })
    },
  }
}
