import { randomUUID } from 'node:crypto'
import { isAnnalsError } from '@annals/core'
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
})
