import { randomUUID } from 'node:crypto'
import { isAnnalsError } from '@annals/core'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrate } from '../src/migrate.js'
import { createPostgresIdempotencyStore } from '../src/postgres-idempotency-store.js'
import { createTestDatabase, type TestDatabase } from '../src/testing/test-database.js'

let db: TestDatabase
const schema = 'idem'

beforeAll(async () => {
  db = await createTestDatabase('annals_pg', { poolSize: 20 })
  await migrate({ pool: db.pool, schema })
})
afterAll(async () => {
  await db?.drop()
})

describe('Postgres idempotency keys', () => {
  it('runs the decision once when 8 commands with one key race from separate store instances', async () => {
    const key = `k-${randomUUID()}`
    let runs = 0
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        // Separate instances: nothing in process memory can serialise them, only Postgres.
        createPostgresIdempotencyStore({ pool: db.pool, schema }).execute(key, 'fp', async () => {
          runs++
          await new Promise((resolve) => setTimeout(resolve, 100))
          return { version: '3' }
        }),
      ),
    )
    expect(runs).toBe(1)
    expect(results.filter((r) => !r.replayed)).toHaveLength(1)
    expect(results.every((r) => (r.result as { version: string }).version === '3')).toBe(true)
    const { rows } = await db.pool.query(
      `SELECT key, fingerprint, result FROM "idem".idempotency_keys WHERE key = $1`,
      [key],
    )
    expect(rows).toEqual([{ key, fingerprint: 'fp', result: { version: '3' } }])
  })

  it('rejects the same key with another fingerprint, also when it arrives while the first still runs', async () => {
    const key = `k-${randomUUID()}`
    const store = createPostgresIdempotencyStore({ pool: db.pool, schema })
    const first = store.execute(key, 'fp-1', async () => {
      await new Promise((resolve) => setTimeout(resolve, 100))
      return 1
    })
    await new Promise((resolve) => setTimeout(resolve, 20))
    const second = await store.execute(key, 'fp-2', async () => 2).catch((e: unknown) => e)
    expect(isAnnalsError(second, 'ANNALS_ERR_IDEMPOTENCY_KEY_REUSED')).toBe(true)
    expect((await first).result).toBe(1)
  })

  it('holds no pool connection while the work runs: more concurrent keys than connections still finish', async () => {
    // The work of a command handler appends through the same pool. Were each caller to hold a pool
    // connection (a transaction with the key's lock) while its work waits for another one, a pool of
    // 2 with 6 callers would wait forever.
    const small = new pg.Pool({ connectionString: db.connectionString, max: 2, connectionTimeoutMillis: 10_000 })
    try {
      const store = createPostgresIdempotencyStore({ pool: small, schema })
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, n) =>
          store.execute(`k-${randomUUID()}`, 'fp', async () => {
            await new Promise((resolve) => setTimeout(resolve, 50))
            const { rows } = await small.query<{ n: number }>('SELECT $1::int AS n', [n])
            return rows[0]?.n
          }),
        ),
      )
      expect(results.map((r) => r.result)).toEqual([0, 1, 2, 3, 4, 5])
    } finally {
      await small.end()
    }
  })

  it('lets a key whose work failed run again, and replays nothing for it', async () => {
    const key = `k-${randomUUID()}`
    const store = createPostgresIdempotencyStore({ pool: db.pool, schema })
    const failed = await store
      .execute(key, 'fp', async () => {
        throw new Error('boom')
      })
      .catch((e: unknown) => e)
    expect((failed as Error).message).toBe('boom')
    expect(await store.execute(key, 'fp', async () => 'second')).toEqual({ result: 'second', replayed: false })
    expect(await store.execute(key, 'fp', async () => 'third')).toEqual({ result: 'second', replayed: true })
  })

  it("takes over a crashed caller's claim once it expires, and runs the work then", async () => {
    const key = `k-${randomUUID()}`
    // What a caller that died mid-work leaves behind: a claim without a result, never renewed again.
    await db.pool.query(
      `INSERT INTO "idem".idempotency_keys (key, fingerprint, result, claim, claimed_until)
       VALUES ($1, 'fp', NULL, gen_random_uuid(), clock_timestamp() + interval '300 milliseconds')`,
      [key],
    )
    const store = createPostgresIdempotencyStore({ pool: db.pool, schema })
    const started = Date.now()
    expect(await store.execute(key, 'fp', async () => 'ran')).toEqual({ result: 'ran', replayed: false })
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
  })
})
