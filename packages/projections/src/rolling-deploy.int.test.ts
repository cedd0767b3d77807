import type { Event, EventStore } from '@annals/core'
import { waitFor } from '@annals/test-support'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { useProjectionsTestBed, waitUntilApplied } from '../test/helpers.js'
import { getProjectionStatus } from './admin.js'
import { defineProjection } from './projection.js'
import { createRedisReadModel, createRedisSink, type RedisWriter } from './sinks/redis-sink.js'

type Deposited = Event<'Deposited', { amount: number }>

/** A logger keeping its warnings, to count the structured ones a worker writes. */
function capturingLogger() {
  const warnings: Record<string, unknown>[] = []
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) })
  return { logger, warnings }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('rolling deploys: an older projection version never replaces a newer one (real Postgres and Redis)', () => {
  const bed = useProjectionsTestBed()

  // Version n multiplies each amount by `factor`: the read model tells whose code built it.
  const totals = (version: number, factor: number) =>
    defineProjection({
      name: 'totals',
      version,
      handles: ['Deposited'] as const,
      sink: createRedisSink({ redis: bed.r.redis, keyPrefix: bed.r.keyPrefix }),
      handlers: {
        Deposited: (e, w: RedisWriter) => w.hincrby(e.streamId, 'total', (e.data as Deposited['data']).amount * factor),
      },
    })

  async function deposit(store: EventStore, n: number) {
    for (let i = 0; i < n; i++) await store.appendToStream(`acc-${i % 5}`, [{ type: 'Deposited', data: { amount: 1 } }])
  }

  async function registryRow() {
    const { rows } = await bed.db.pool.query(
      `SELECT live_generation, live_version, building_generation, building_version FROM annals.projections
       WHERE name = 'totals'`,
    )
    return rows[0]
  }

  async function leaseOwner() {
    const { rows } = await bed.db.pool.query(`SELECT owner FROM annals.projection_leases WHERE projection = 'totals'`)
    return rows[0]?.owner as string | undefined
  }

  const common = { leaseTtlMs: 1000, controlIntervalMs: 50 }

  it('a v1 worker started beside a live v2 never takes the lease, even once v2 is gone: the read model stays v2', async () => {
    const v1 = totals(1, 1)
    const v2 = totals(2, 10)
    const rm = createRedisReadModel(bed.r.redis, v2)
    await deposit(bed.store, 50)
    const first = bed.runner({ ...common, projections: [v1] })
    await first.start()
    await waitUntilApplied(bed.db.pool, first, [v1])
    await first.stop()
    const current = bed.runner({ ...common, projections: [v2] })
    await current.start()
    const { logger, warnings } = capturingLogger()
    const old = bed.runner({ ...common, projections: [v1], logger })
    let successor: ReturnType<typeof bed.runner> | undefined
    try {
      await waitFor('generation 2 live', async () => (await rm.generation()) === 2)
      await waitUntilApplied(bed.db.pool, current, [v2])
      expect(await rm.hget('acc-0', 'total')).toBe('100')

      await old.start()
      const superseded = await waitFor('the v1 worker superseded', () => {
        const s = old.status()[0]
        return s?.state === 'superseded' ? s : null
      })
      expect(superseded).toMatchObject({ name: 'totals', version: 1, supersededBy: 2, owner: null, token: null })

      // v2 goes away (a rolled-back pod, a stop): only the v1 worker is left.
      await current.stop()
      await deposit(bed.store, 5)
      await pause(1500)
      expect(old.status()[0]).toMatchObject({ state: 'superseded', version: 1, supersededBy: 2, owner: null })
      expect(await leaseOwner()).toBe(current.workerId)
      expect(await registryRow()).toEqual({
        live_generation: 2,
        live_version: 2,
        building_generation: null,
        building_version: null,
      })
      expect(await rm.generation()).toBe(2)
      expect(await rm.hget('acc-0', 'total')).toBe('100')
      const logged = warnings.filter((w) => w.msg === 'projection superseded by a higher version: standing by')
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatchObject({ projection: 'totals', version: 1, highestVersion: 2 })
      const [status] = await getProjectionStatus({ pool: bed.db.pool, projections: [v1] })
      expect(status).toMatchObject({ definedVersion: 1, liveVersion: 2, highestVersion: 2 })

      // The same version takes over as usual: no rebuild, the new events applied with v2's code.
      successor = bed.runner({ ...common, projections: [v2] })
      await successor.start()
      await waitUntilApplied(bed.db.pool, successor, [v2])
      expect(await rm.generation()).toBe(2)
      expect(await rm.hget('acc-0', 'total')).toBe('110')
      expect(old.status()[0]?.state).toBe('superseded')
    } finally {
      await Promise.all([old.stop(), current.stop(), successor?.stop()])
    }
  })

  it('a v1 owner whose lease v2 took while rebuilding neither swaps back nor abandons the build', async () => {
    const v1 = totals(1, 1)
    const v2 = totals(2, 10)
    const rm = createRedisReadModel(bed.r.redis, v1)
    await deposit(bed.store, 50)
    const old = bed.runner({ ...common, projections: [v1] })
    await old.start()
    let arrived = false
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const upgrade = bed.runner({
      ...common,
      rebuildBatchSize: 10,
      projections: [v2],
      hooks: {
        async beforeCommit({ generation }) {
          if (generation !== 2) return
          arrived = true
          await gate
        },
      },
    })
    let resumed: ReturnType<typeof bed.runner> | undefined
    try {
      await waitUntilApplied(bed.db.pool, old, [v1])
      expect(await rm.hget('acc-0', 'total')).toBe('10')
      await upgrade.start()
      // v1's lease lapses (a long pause): v2, standing by, takes it and starts building generation 2.
      await waitFor(
        'v2 rebuilding under the lease v1 lost',
        async () => {
          await bed.db.pool.query(
            `UPDATE annals.projection_leases SET expires_at = now() - interval '1 millisecond'
             WHERE projection = 'totals' AND owner = $1`,
            [old.workerId],
          )
          return arrived
        },
        { everyMs: 50 },
      )
      await waitFor('the v1 worker superseded', () => old.status()[0]?.state === 'superseded')
      // v2 is rolled (stopped mid-build): its lease is released at once, the build left half done.
      release()
      await upgrade.stop()
      expect(await registryRow()).toEqual({
        live_generation: 1,
        live_version: 1,
        building_generation: 2,
        building_version: 2,
      })
      await deposit(bed.store, 5)
      await pause(1500)
      expect(old.status()[0]).toMatchObject({ state: 'superseded', supersededBy: 2, owner: null, building: null })
      expect(await leaseOwner()).toBe(upgrade.workerId)
      expect(await registryRow()).toEqual({
        live_generation: 1,
        live_version: 1,
        building_generation: 2,
        building_version: 2,
      })
      expect(await rm.generation()).toBe(1)
      expect(await rm.hget('acc-0', 'total')).toBe('10')

      // The next v2 worker resumes the build and swaps; the v1 worker stays out of it.
      resumed = bed.runner({ ...common, projections: [v2] })
      await resumed.start()
      await waitFor('generation 2 live', async () => (await rm.generation()) === 2)
      await waitUntilApplied(bed.db.pool, resumed, [v2])
      expect(await rm.hget('acc-0', 'total')).toBe('110')
      expect(old.status()[0]?.state).toBe('superseded')
    } finally {
      release()
      await Promise.all([old.stop(), upgrade.stop(), resumed?.stop()])
    }
  })
})
