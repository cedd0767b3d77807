import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../test/helpers.js'
import { isProjectionSupersededError } from './errors.js'
import { createLeaseStore, type Lease, type LeaseStore } from './lease.js'
import { migrateProjections } from './migrate-projections.js'
import { projectionTables } from './names.js'

let db: Awaited<ReturnType<typeof createTestDatabase>>
let leases: LeaseStore

beforeAll(async () => {
  db = await createTestDatabase('annals_proj_lease')
  await migrateProjections({ pool: db.pool })
  leases = createLeaseStore(db.pool, projectionTables({}))
})
afterAll(async () => {
  await db?.drop()
})

const expire = (projection: string) =>
  db.pool.query(
    `UPDATE annals.projection_leases SET expires_at = now() - interval '1 millisecond' WHERE projection = $1`,
    [projection],
  )

/** What one acquire ended in: the lease, `held` (null), or `superseded` (the typed refusal). */
async function attempt(projection: string, owner: string, version: number): Promise<Lease | 'held' | 'superseded'> {
  try {
    return (await leases.acquire(projection, owner, 60_000, version)) ?? 'held'
  } catch (error) {
    if (isProjectionSupersededError(error)) return 'superseded'
    throw error
  }
}

describe('lease store versions (real Postgres)', () => {
  it('two versions racing for an expired lease: once the higher one took it, the lower one never does', async () => {
    const outcomes: string[] = []
    for (let round = 0; round < 40; round++) {
      await expire('race')
      // Either one sends its statement first, in turn: each gets its chances at the expired lease.
      const [older, newer] =
        round % 2 === 0
          ? await Promise.all([attempt('race', 'old', 1), attempt('race', 'new', 2)])
          : await Promise.all([attempt('race', 'new', 2), attempt('race', 'old', 1)]).then(([n, o]) => [o, n])
      outcomes.push(`${typeof older === 'string' ? older : 'v1'}/${typeof newer === 'string' ? newer : 'v2'}`)
    }
    const firstNew = outcomes.findIndex((o) => o.endsWith('/v2'))
    expect(firstNew).toBeGreaterThanOrEqual(0)
    // After v2's first take every v1 attempt is refused; the typed refusal at the latest the round after.
    expect(outcomes.slice(firstNew).filter((o) => o.startsWith('v1/'))).toEqual([])
    expect(outcomes.slice(firstNew + 1).every((o) => o.startsWith('superseded/'))).toBe(true)
    const { rows } = await db.pool.query(`SELECT version FROM annals.projection_leases WHERE projection = 'race'`)
    expect(rows).toEqual([{ version: 2 }])
  })

  it('refuses a version below the registry even without a versioned lease row (rows from before the column)', async () => {
    await db.pool.query(
      `INSERT INTO annals.projections (name, live_generation, live_version, building_generation, building_version)
       VALUES ('legacy', 2, 1, 3, 2), ('unleased', 1, 2, NULL, NULL)`,
    )
    await db.pool.query(
      `INSERT INTO annals.projection_leases (projection, owner, token, expires_at) VALUES ('legacy', 'gone', 7, now())`,
    )
    const { rows } = await db.pool.query(`SELECT version FROM annals.projection_leases WHERE projection = 'legacy'`)
    expect(rows).toEqual([{ version: 0 }])
    await expect(leases.acquire('legacy', 'old', 60_000, 1)).rejects.toMatchObject({
      code: 'ANNALS_PROJ_ERR_SUPERSEDED',
      projection: 'legacy',
      version: 1,
      highestVersion: 2,
    })
    await expect(leases.acquire('unleased', 'old', 60_000, 1)).rejects.toMatchObject({
      code: 'ANNALS_PROJ_ERR_SUPERSEDED',
      highestVersion: 2,
    })
    expect(await leases.acquire('legacy', 'new', 60_000, 2)).toMatchObject({ owner: 'new', token: 8n })
    expect(await leases.acquire('unleased', 'new', 60_000, 2)).toMatchObject({ owner: 'new', token: 1n })
  })

  it('the same owner re-taking its lease with a lower version is refused too', async () => {
    expect(await leases.acquire('own', 'w', 60_000, 3)).toMatchObject({ token: 1n })
    await expect(leases.acquire('own', 'w', 60_000, 2)).rejects.toMatchObject({ code: 'ANNALS_PROJ_ERR_SUPERSEDED' })
    expect(await leases.acquire('own', 'w', 60_000, 3)).toMatchObject({ token: 2n })
  })
})
