import { quoteIdentifier } from '@annals/store-postgres/sql'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ProjectionErrorCodes } from '../errors.js'
import { migrateProjections } from '../migrate-projections.js'
import { projectionTables } from '../names.js'
import { readModelSinkContract } from '../testing/index.js'
import { createPostgresSink, type PostgresSinkContext } from './postgres-sink.js'

const SCHEMA = 'annals'
// The projection tables unprefixed, as by default, and under a prefix: the sink finds them by its target.
const LOCATIONS = [
  { schema: SCHEMA, tablePrefix: '' },
  { schema: SCHEMA, tablePrefix: 'c_' },
] as const
let db: TestDatabase
let harnesses = 0

beforeAll(async () => {
  db = await createTestDatabase('annals_proj_sink')
  for (const location of LOCATIONS) await migrateProjections({ pool: db.pool, ...location })
})
afterAll(async () => {
  await db?.drop()
})

for (const location of LOCATIONS) {
  const tables = projectionTables(location)
  const name = location.tablePrefix ? `prefixed projection tables (${location.tablePrefix})` : 'unprefixed'
  readModelSinkContract(`Postgres sink (real Postgres, ${name})`, async () => {
    const n = ++harnesses
    const projection = `contract_${n}`
    // Each harness has its own read-model schema: the views are named after the tables, not the projection.
    const schema = `read_model_${n}`
    const sink = createPostgresSink({
      pool: db.pool,
      schema,
      tables: { kv: (table) => `CREATE TABLE ${table} (key text PRIMARY KEY, value text NOT NULL)` },
    })
    const valueIn = async (relation: string, key: string): Promise<string | null> => {
      const exists = await db.pool.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [relation])
      if (!exists.rows[0]?.t) return null
      const { rows } = await db.pool.query<{ value: string }>(`SELECT value FROM ${relation} WHERE key = $1`, [key])
      return rows[0]?.value ?? null
    }
    return {
      sink,
      projection,
      ...location,
      async grantLease(token) {
        await db.pool.query(
          `INSERT INTO ${tables.leases} (projection, owner, token, expires_at) VALUES ($1, 'contract', $2, now() + interval '1 minute')
         ON CONFLICT (projection) DO UPDATE SET token = excluded.token`,
          [projection, token.toString()],
        )
      },
      async parkDeadLetters(generation, count) {
        const { rows } = await db.pool.query<{ id: string }>(
          `INSERT INTO ${tables.deadLetters} (projection, generation, event_id, event_type, stream_id, stream_version,
           global_position, transaction_id, reason)
         SELECT $1, $2, 'event-' || i, 'Bumped', 's-1', i, i, 1, 'failed' FROM generate_series(1, $3::int) AS i
         RETURNING id::text`,
          [projection, generation, count],
        )
        return rows.map((r) => BigInt(r.id))
      },
      async write(ctx, key, value) {
        await ctx.client.query(
          `INSERT INTO ${ctx.table('kv')} (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
          [key, value],
        )
      },
      read: (generation, key) => valueIn(`${quoteIdentifier(schema)}.${quoteIdentifier(`kv_g${generation}`)}`, key),
      readLive: (key) => valueIn(`${quoteIdentifier(schema)}.${quoteIdentifier('kv')}`, key),
    }
  })
}

describe('Postgres sink: a connection that dies during a commit', () => {
  // A sink transaction holds its client across the handlers' awaits; the connection dying there
  // (a server restart, a terminated backend) must fail that commit, not end the process.
  let pool: pg.Pool
  beforeAll(() => {
    // One client at most: the commit after the failure shows whether the broken one came back.
    pool = new pg.Pool({ connectionString: db.connectionString, max: 1 })
    pool.on('error', () => undefined)
  })
  afterAll(async () => {
    await pool?.end()
  })

  it('fails the commit with SinkFailedError, writes nothing, and the next commit gets a fresh connection', async () => {
    const tables = projectionTables({ schema: SCHEMA })
    const target = { schema: SCHEMA, projection: 'connection_lost', generation: 1 }
    const sink = createPostgresSink({
      pool,
      schema: 'read_model_lost',
      tables: { kv: (table) => `CREATE TABLE ${table} (key text PRIMARY KEY, value text NOT NULL)` },
    })
    await db.pool.query(
      `INSERT INTO ${tables.leases} (projection, owner, token, expires_at) VALUES ($1, 'test', 1, now() + interval '1 minute')`,
      [target.projection],
    )
    await sink.prepare(target)
    const write = (ctx: PostgresSinkContext<'kv'>, value: string) =>
      ctx.client.query(`INSERT INTO ${ctx.table('kv')} (key, value) VALUES ('a', $1)`, [value])
    const pidOf = async (client: pg.PoolClient | pg.Pool) =>
      Number((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid)
    let killed = 0
    const failed = sink.commit(target, {
      token: 1n,
      expected: null,
      checkpoint: { transactionId: 1n, position: 1n },
      replayIds: [],
      size: 1,
      async apply(ctx) {
        await write(ctx, 'lost')
        killed = await pidOf(ctx.client)
        // Between two statements of the transaction: node-postgres emits `error` on the idle client.
        const ended = new Promise((resolve) => ctx.client.once('end', resolve))
        await db.pool.query('SELECT pg_terminate_backend($1)', [killed])
        await ended
        await write(ctx, 'after')
      },
    })
    const error = await failed.catch((e: unknown) => e)
    expect(error).toMatchObject({ code: ProjectionErrorCodes.SINK_FAILED })
    expect((error as Error).cause).toMatchObject({ code: 'ANNALS_PG_ERR_CONNECTION_LOST' })
    expect(await sink.loadCheckpoint(target)).toBeNull()

    const result = await sink.commit(target, {
      token: 1n,
      expected: null,
      checkpoint: { transactionId: 1n, position: 1n },
      replayIds: [],
      size: 1,
      apply: (ctx) => write(ctx, 'committed').then(() => undefined),
    })
    expect(result).toEqual({ status: 'committed' })
    expect((await db.pool.query('SELECT key, value FROM read_model_lost.kv_g1')).rows).toEqual([
      { key: 'a', value: 'committed' },
    ])
    expect(await pidOf(pool)).not.toBe(killed)
    expect(pool.totalCount).toBe(1)
  })
})
