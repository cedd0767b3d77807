import { CompiledQuery, type QueryResult } from 'kysely'
import type pg from 'pg'
import { PgInvalidOptionError } from '../errors.js'
import { withTransaction } from './transaction.js'

/** The structural slice of a PGlite instance the store uses (so `@electric-sql/pglite` stays optional). */
export interface PgliteLike {
  query<T>(query: string, params?: unknown[]): Promise<{ rows: T[] }>
  transaction<T>(callback: (tx: PgliteTransactionLike) => Promise<T>): Promise<T>
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>
}

/** The structural slice of a PGlite transaction the store uses. */
export interface PgliteTransactionLike {
  query<T>(query: string, params?: unknown[]): Promise<{ rows: T[] }>
}

/** The structural slice of a `Kysely` instance the store uses (any database type fits). */
export interface KyselyLike {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>
  transaction(): { execute<T>(callback: (trx: KyselyLike) => Promise<T>): Promise<T> }
}

/** Where a store's queries go: a node-postgres pool, an embedded PGlite, or a Kysely instance. */
export type StoreConnection =
  | Readonly<{ pool: pg.Pool }>
  | Readonly<{ pglite: PgliteLike }>
  | Readonly<{ db: KyselyLike }>

/** Runs SQL; every value the store reads is cast to text in SQL and parsed by the store itself. */
export interface SqlRunner {
  query<R>(text: string, values?: readonly unknown[], name?: string): Promise<R[]>
}

/**
 * One connection option (pool, PGlite or Kysely) seen the same way: queries, and a transaction on one
 * connection. Every Annals package that writes SQL (migrations, the outbox, projections, sagas) goes through it.
 */
export interface SqlExecutor extends SqlRunner {
  readonly kind: 'pg' | 'pglite' | 'kysely'
  /** Runs `work` in one transaction on one connection. */
  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T>
  readonly pool?: pg.Pool
  readonly pglite?: PgliteLike
}

const identity = (value: string): string => value
// Per-query parsers: every column comes back as the server's text, whatever global parsers the
// application installed; node-postgres' global type parsers are never touched.
/** @internal Parsers that leave every column as the server's text (used by every query the store sends). */
export const rawTypes = { getTypeParser: () => identity } as unknown as pg.CustomTypesConfig

function pgRunner(client: pg.Pool | pg.PoolClient): SqlRunner {
  return {
    async query<R>(text: string, values?: readonly unknown[], name?: string): Promise<R[]> {
      const config: pg.QueryConfig = { text, values: values as unknown[] | undefined, types: rawTypes }
      if (name) config.name = name
      const result = await client.query(config)
      return result.rows as R[]
    },
  }
}

/** Builds the {@link SqlExecutor} of a connection option (`{ pool }`, `{ pglite }` or `{ kysely }`). */
export function toExecutor(connection: StoreConnection): SqlExecutor {
  if ('pool' in connection && connection.pool) {
    const pool = connection.pool
    const runner = pgRunner(pool)
    return {
      kind: 'pg',
      pool,
      query: runner.query,
      transaction: (work) => withTransaction(pool, (client) => work(pgRunner(client))),
    }
  }
  if ('pglite' in connection && connection.pglite) {
    const pglite = connection.pglite
    const run = (target: PgliteTransactionLike): SqlRunner => ({
      async query<R>(text: string, values?: readonly unknown[]): Promise<R[]> {
        const result = await target.query<R>(text, values as unknown[] | undefined)
        return result.rows
      },
    })
    const runner = run(pglite)
    return {
      kind: 'pglite',
      pglite,
      query: runner.query,
      transaction: (work) => pglite.transaction((tx) => work(run(tx))),
    }
  }
  if ('db' in connection && connection.db) {
    const db = connection.db
    const run = (target: KyselyLike): SqlRunner => ({
      async query<R>(text: string, values?: readonly unknown[]): Promise<R[]> {
        const result = await target.executeQuery<R>(CompiledQuery.raw(text, (values ?? []) as unknown[]))
        return result.rows as R[]
      },
    })
    const runner = run(db)
    return {
      kind: 'kysely',
      query: runner.query,
      transaction: (work) => db.transaction().execute((trx) => work(run(trx))),
    }
  }
  throw new PgInvalidOptionError('connection', 'give one of { pool }, { pglite } or { db } (a Kysely instance)')
}
