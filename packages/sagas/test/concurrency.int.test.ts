import { killAllSpawned, waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { bankTransfer } from '../examples/bank-transfer.js'
import { countSagas, listSagas } from '../src/postgres/saga-admin.js'
import { startSaga } from '../src/postgres/start-saga.js'
import { createWorld, spawnWorker, useTestDatabase } from './helpers.js'

const db = useTestDatabase()

describe('several workers', () => {
  it('share the instances, started directly or by events, and run every command once', async () => {
    const schema = 'many'
    const world = await createWorld(db.pool, schema)
    const sources = 4
    for (let i = 0; i < sources; i++) await world.open(`s${i}`, 'EUR', 1000)
    await world.open('eur', 'EUR', 0)
    await world.open('usd', 'USD', 0) // every transfer to it is refused and refunded
    for (let i = 0; i < 3; i++) {
      spawnWorker({ DATABASE_URL: db.url, SCHEMA: schema, WORKER_ID: `w${i}` })
    }
    const transfers = 24
    for (let i = 0; i < transfers; i++) {
      const input = {
        transferId: `t${i}`,
        from: `s${i % sources}`,
        to: i % 3 === 0 ? 'usd' : 'eur',
        amount: 10,
        currency: 'EUR',
      }
      if (i % 2 === 0) {
        await startSaga({ pool: db.pool, store: world.store, schema }, bankTransfer, input)
      } else {
        // Recorded twice: the saga starts once.
        for (let copy = 0; copy < 2; copy++) {
          await world.store.appendToStream(`transfer-request-${i}-${copy}`, [
            { type: 'TransferRequested', data: input },
          ])
        }
      }
    }
    const ended = await waitFor(
      'every transfer to end',
      async () => {
        const counts = await countSagas({ pool: db.pool, schema })
        return counts.completed + counts.compensated === transfers ? counts : null
      },
      { timeoutMs: 60_000, everyMs: 100 },
    )
    await killAllSpawned()
    const refused = Array.from({ length: transfers }, (_, i) => i).filter((i) => i % 3 === 0).length
    expect(ended).toMatchObject({ completed: transfers - refused, compensated: refused, running: 0, failed: 0 })
    expect((await listSagas({ pool: db.pool, schema, saga: 'requested-transfer' })).length).toBe(transfers / 2)
    // 1000 each, minus 10 per completed transfer from that source; refused ones were refunded.
    let total = 0
    for (let i = 0; i < sources; i++) total += (await world.balance(`s${i}`)) as number
    expect(total).toBe(sources * 1000 - 10 * (transfers - refused))
    expect(await world.balance('eur')).toBe(10 * (transfers - refused))
    expect(await world.balance('usd')).toBe(0)
    const eur = await world.types('account-eur')
    expect(eur.filter((t) => t === 'MoneyDeposited')).toHaveLength(transfers - refused)
  }, 120_000)
})
