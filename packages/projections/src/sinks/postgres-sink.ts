import type { LogCheckpoint } from '@annals/core'
import {
  type CheckedOutClient,
  checkOut,
  isPgConnectionLostError,
  PgInvalidIdentifierError,
  quoteIdentifier,
  validateSchemaName,
} from '@annals/store-postgres/sql'
import type { Pool, PoolClient } from 'pg'
import { ProjectionInvalidOptionError, SinkFailedError } from '../errors.js'
import { projectionTables } from '../names.js'
import type { ReadModelSink, SinkBatch, SinkCommitResult, SinkTarget } from '../sink.js'

/** What a Postgres projection handler receives: the batch's transaction and its generation's tables. */
export interface PostgresSinkContext<T extends string = string> {
  /** The client of the open transaction: every write through it commits with the checkpoint. */
  readonly client: PoolClient
  /** The quoted, schema-qualified name of this generation's table `name` (e.g. `"rm"."balances_g2"`). */
  table(name: T): string
}

/** Options of {@link createPostgresSink}. */
export type PostgresSinkOptions<T extends string> = Readonly<{
  /**
   * The pool of the database that also holds the projection tables (the lease row is checked and the
   * checkpoint stored in the same transaction as the writes).
   */
  pool: Pool
  /** Schema of the read-model tables and views. Default `public`. */
  schema?: string
  /**
   * The read model's tables: for each, a function that returns the DDL creating it under the given
   * (quoted, generation-specific) name. Readers query a view named after the key, which points at the
   * live generation's table.
   */
  tables: Readonly<Record<T, (table: string) => string>>
}>

const GENERATION_COMMENT = /^annals generation (\d+)$/
// Each generation's table is `<name>_g<generation>`, and Postgres silently truncates names beyond 63
// bytes (two generations would then share a table): leave room for `_g` and an int4 generation.
const MAX_TABLE_BYTES = 63 - '_g2147483647'.length

/** The store's identifier rule, with room for the generation suffix. */
function validateReadModelTable(name: string): string {
  const rule = `use letters, digits and underscores only, starting with a letter or underscore, at most ${MAX_TABLE_BYTES} bytes`
  try {
    validateSchemaName(name)
  } catch {
    throw new PgInvalidIdentifierError('read-model table', name, rule)
  }
  if (Buffer.byteLength(name, 'utf8') > MAX_TABLE_BYTES)
    throw new PgInvalidIdentifierError('read-model table', name, rule)
  return name
}

/**
 * A Postgres read model: each generation is its own set of tables (`<name>_g<n>`); a view `<name>`
 * points at the live one and is replaced atomically when a rebuild goes live. Writes, the checkpoint
 * and the fencing check run in one transaction.
 */
export function createPostgresSink<const T extends string>(
  options: PostgresSinkOptions<T>,
): ReadModelSink<PostgresSinkContext<T>> & { readonly schema: string; readonly tableNames: readonly T[] } {
  const { pool } = options
  const schema = validateSchemaName(options.schema ?? 'public')
  const names = Object.keys(options.tables) as T[]
  if (names.length === 0) throw new ProjectionInvalidOptionError('tables', 'declare at least one table')
  for (const name of names) validateReadModelTable(name)
  const qs = quoteIdentifier(schema)
  const tableOf = (name: string, generation: number) => `${qs}.${quoteIdentifier(`${name}_g${generation}`)}`
  const viewOf = (name: string) => `${qs}.${quoteIdentifier(name)}`

  async function inTransaction<R>(work: (client: PoolClient) => Promise<R>): Promise<R> {
    let held: CheckedOutClient
    try {
      held = await checkOut(pool)
    } catch (error) {
      throw new SinkFailedError('postgres', `cannot connect: ${(error as Error).message}`, { cause: error })
    }
    try {
      return await held.transaction(work)
    } catch (error) {
      // Not the handlers' fault: the runner retries the batch once the server is back, never parks it.
      if (isPgConnectionLostError(error)) throw new SinkFailedError('postgres', error.message, { cause: error })
      throw error
    } finally {
      held.release()
    }
  }

  // An unpartitioned projection has one checkpoint and one lease per generation; a partitioned one,
  // one of each per partition.
  const checkpointRow = (target: SinkTarget) => {
    const t = projectionTables(target)
    return target.partition === undefined
      ? {
          table: t.checkpoints,
          where: 'projection = $1 AND generation = $2',
          params: [target.projection, target.generation],
        }
      : {
          table: t.partitionCheckpoints,
          where: 'projection = $1 AND generation = $2 AND partition = $3',
          params: [target.projection, target.generation, target.partition],
        }
  }
  const leaseToken = async (client: PoolClient, target: SinkTarget): Promise<string | undefined> => {
    const t = projectionTables(target)
    const { rows } =
      target.partition === undefined
        ? await client.query<{ token: string }>(`SELECT token::text FROM ${t.leases} WHERE projection = $1 FOR SHARE`, [
            target.projection,
          ])
        : await client.query<{ token: string }>(
            `SELECT token::text FROM ${t.partitionLeases} WHERE projection = $1 AND partition = $2 FOR SHARE`,
            [target.projection, target.partition],
          )
    return rows[0]?.token
  }

  return {
    kind: 'postgres',
    schema,
    tableNames: names,
    async prepare(target) {
      await inTransaction(async (client) => {
        // The workers of a partitioned projection prepare the same generation at once: without a lock,
        // two CREATE TABLEs race and one fails on the catalog's unique index. Held to the commit.
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
          `annals-postgres-sink:${schema}:${tableOf(names[0] as T, target.generation)}`,
        ])
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${qs}`)
        for (const name of names) {
          const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
            tableOf(name, target.generation),
          ])
          if (exists.rows[0]?.t) continue
          const ddl = options.tables[name](tableOf(name, target.generation))
          await client.query(ddl)
        }
      })
    },
    async loadCheckpoint(target) {
      const at = checkpointRow(target)
      const { rows } = await pool.query<{ tx: string; pos: string }>(
        `SELECT transaction_id::text AS tx, position::text AS pos FROM ${at.table} WHERE ${at.where}`,
        at.params,
      )
      const row = rows[0]
      return row ? { transactionId: BigInt(row.tx), position: BigInt(row.pos) } : null
    },
    async commit(target: SinkTarget, batch: SinkBatch<PostgresSinkContext<T>>): Promise<SinkCommitResult> {
      const t = projectionTables(target)
      const at = checkpointRow(target)
      return inTransaction(async (client) => {
        // FOR SHARE holds off a takeover (which updates the row) until this transaction ends.
        if ((await leaseToken(client, target)) !== batch.token.toString()) {
          await client.query('ROLLBACK')
          await client.query('BEGIN')
          return { status: 'fenced' }
        }
        const cp = await client.query<{ tx: string; pos: string }>(
          `SELECT transaction_id::text AS tx, position::text AS pos FROM ${at.table} WHERE ${at.where} FOR UPDATE`,
          at.params,
        )
        const row = cp.rows[0]
        const actual: LogCheckpoint | null = row ? { transactionId: BigInt(row.tx), position: BigInt(row.pos) } : null
        const same =
          actual === null || batch.expected === null
            ? actual === batch.expected
            : actual.transactionId === batch.expected.transactionId && actual.position === batch.expected.position
        if (!same) {
          await client.query('ROLLBACK')
          await client.query('BEGIN')
          return { status: 'conflict', actual }
        }
        if (batch.replayIds.length > 0) {
          const r = await client.query(
            `UPDATE ${t.deadLetters} SET status = 'replayed', resolved_at = now(), retry_requested_at = NULL
             WHERE id = ANY($1::bigint[]) AND status = 'parked'`,
            [batch.replayIds.map(String)],
          )
          if (r.rowCount !== batch.replayIds.length) {
            await client.query('ROLLBACK')
            await client.query('BEGIN')
            return { status: 'duplicate' }
          }
        }
        await batch.apply({ client, table: (name) => tableOf(name, target.generation) })
        if (batch.checkpoint && target.partition !== undefined) {
          await client.query(
            `INSERT INTO ${t.partitionCheckpoints} (projection, generation, partition, transaction_id, position)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (projection, generation, partition) DO UPDATE
               SET transaction_id = excluded.transaction_id, position = excluded.position, updated_at = now()`,
            [
              target.projection,
              target.generation,
              target.partition,
              batch.checkpoint.transactionId.toString(),
              batch.checkpoint.position.toString(),
            ],
          )
        } else if (batch.checkpoint) {
          await client.query(
            `INSERT INTO ${t.checkpoints} (projection, generation, transaction_id, position) VALUES ($1, $2, $3, $4)
             ON CONFLICT (projection, generation) DO UPDATE
               SET transaction_id = excluded.transaction_id, position = excluded.position, updated_at = now()`,
            [
              target.projection,
              target.generation,
              batch.checkpoint.transactionId.toString(),
              batch.checkpoint.position.toString(),
            ],
          )
        }
        return { status: 'committed' }
      })
    },
    async fence() {
      // The lease row itself is the fence: commit checks it in its own transaction.
    },
    async liveGeneration() {
      const first = names[0] as T
      const { rows } = await pool.query<{ c: string | null }>(
        `SELECT obj_description(to_regclass($1), 'pg_class') AS c`,
        [viewOf(first)],
      )
      const match = rows[0]?.c ? GENERATION_COMMENT.exec(rows[0].c) : null
      return match ? Number(match[1]) : null
    },
    async activate(target, token) {
      return inTransaction(async (client) => {
        if ((await leaseToken(client, target)) !== token.toString()) return false
        // Dropping and creating in one transaction swaps the view atomically, even when columns changed.
        for (const name of names) {
          await client.query(`DROP VIEW IF EXISTS ${viewOf(name)}`)
          await client.query(`CREATE VIEW ${viewOf(name)} AS SELECT * FROM ${tableOf(name, target.generation)}`)
          await client.query(`COMMENT ON VIEW ${viewOf(name)} IS 'annals generation ${String(target.generation)}'`)
        }
        return true
      })
    },
    async drop(target) {
      const t = projectionTables(target)
      await inTransaction(async (client) => {
        for (const name of names) await client.query(`DROP TABLE IF EXISTS ${tableOf(name, target.generation)}`)
        await client.query(`DELETE FROM ${t.checkpoints} WHERE projection = $1 AND generation = $2`, [
          target.projection,
          target.generation,
        ])
        await client.query(`DELETE FROM ${t.partitionCheckpoints} WHERE projection = $1 AND generation = $2`, [
          target.projection,
          target.generation,
        ])
      })
    },
  }
}
