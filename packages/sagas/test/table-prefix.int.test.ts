import { tableNames, waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { countSagas, getSaga, listSagas } from '../src/postgres/saga-admin.js'
import { createSagaWorker } from '../src/postgres/saga-worker.js'
import { createWorld, useTestDatabase } from './helpers.js'
import { mirrorDeposits, requestedTransfer } from './worker-sagas.js'

const db = useTestDatabase('annals_sagas_prefix')

describe('saga and subscription tables under a table prefix (real Postgres)', () => {
  it('routes, drives and reacts through prefixed tables only, and the admin functions read them with the prefix', async () => {
    // createWorld migrates the unprefixed saga tables too: they must stay empty.
    const world = await createWorld(db.pool, 'prefixed')
    await world.open('a', 'EUR', 100)
    await world.open('b', 'EUR', 0)
    await world.open('src-1', 'EUR', 0)
    await world.open('mirror-1', 'EUR', 0)
    const location = { schema: 'prefixed', tablePrefix: 'p_' }
    const worker = createSagaWorker({
      pool: db.pool,
      ...location,
      store: world.store,
      sagas: [requestedTransfer],
      reactors: [mirrorDeposits],
      subscriptions: { ...location, pollIntervalMs: 50 },
      pollIntervalMs: 50,
    })
    await worker.start()
    try {
      const input = { transferId: 'px1', from: 'a', to: 'b', amount: 30, currency: 'EUR' }
      await world.store.appendToStream('transfer-requests', [{ type: 'TransferRequested', data: input }])
      await world.accounts.handle({ type: 'Deposit', data: { accountId: 'src-1', amount: 7 } })
      await waitFor(
        'the routed transfer to complete',
        async () => (await countSagas({ pool: db.pool, ...location })).completed === 1,
      )
      await waitFor('the reactor to mirror the deposit', async () => (await world.balance('mirror-1')) === 7)
    } finally {
      await worker.stop()
    }
    expect(await world.balance('b')).toBe(30)
    expect((await listSagas({ pool: db.pool, ...location })).map((s) => s.sagaId)).toEqual(['px1'])
    const details = await getSaga({ store: world.store, pool: db.pool, ...location }, 'requested-transfer', 'px1')
    expect(details.summary).toMatchObject({ status: 'completed' })
    expect(await listSagas({ pool: db.pool, schema: 'prefixed' })).toEqual([])

    const tables = await tableNames(db.pool, 'prefixed')
    expect(tables).toEqual(
      expect.arrayContaining([
        'p_saga_instances',
        'p_saga_migrations',
        'p_projections',
        'p_projection_leases',
        'p_annals_projections_migrations',
        'p_saga_router_g1',
        'p_reactor_mirror_deposits_g1',
      ]),
    )
    // The subscriptions ran on the prefixed projection tables: their registry and checkpoints are there.
    const registry = await db.pool.query<{ name: string }>('SELECT name FROM prefixed.p_projections ORDER BY name')
    expect(registry.rows.map((r) => r.name)).toEqual(['reactor.mirror-deposits', 'sagas.router'])
    expect(tables).not.toContain('projections')
  })
})
