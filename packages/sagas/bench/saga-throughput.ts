// Saga throughput on PostgreSQL: N two-step bank transfers between 10 + 10 accounts (a third refused by a
// USD account and refunded), all queued with startSaga first, then driven by W in-process workers:
// time from the workers' start to the last end.
// Run: node --conditions=@annals/source --import tsx packages/sagas/bench/saga-throughput.ts [N] [W]

import { waitFor } from '@annals/test-support'
import { pino } from 'pino'
import { bankTransfer } from '../examples/bank-transfer.js'
import { countSagas } from '../src/postgres/saga-admin.js'
import { createSagaWorker } from '../src/postgres/saga-worker.js'
import { startSaga } from '../src/postgres/start-saga.js'
import { createTestDatabase, createWorld } from '../test/helpers.js'
import { pgStore } from '../test/store.js'

const n = Number(process.argv[2] ?? 500)
const w = Number(process.argv[3] ?? 2)
const db = await createTestDatabase('annals_sagas_bench')
try {
  const world = await createWorld(db.pool, 'bench')
  for (let i = 0; i < 10; i++) await world.open(`s${i}`, 'EUR', 1_000_000)
  for (let i = 0; i < 10; i++) await world.open(`eur${i}`, 'EUR', 0)
  await world.open('usd', 'USD', 0)
  const watcher = await pgStore.createPostgresLogWatcher({ pool: db.pool, schema: 'bench' })
  const workers = Array.from({ length: w }, (_, i) =>
    createSagaWorker({
      pool: db.pool,
      schema: 'bench',
      store: world.store,
      watcher,
      sagas: [bankTransfer],
      workerId: `bench-${i}`,
      subscriptions: { schema: 'bench' },
      logger: pino({ level: 'warn' }),
    }),
  )
  // All instances are queued first, so the figure is the workers' drive rate, not the starter's.
  const queuing = performance.now()
  for (let i = 0; i < n; i++) {
    await startSaga({ pool: db.pool, store: world.store, schema: 'bench' }, bankTransfer, {
      transferId: `t${i}`,
      from: `s${i % 10}`,
      to: i % 3 === 0 ? 'usd' : `eur${i % 10}`,
      amount: 1,
      currency: 'EUR',
    })
  }
  const queued = performance.now()
  const started = performance.now()
  for (const worker of workers) await worker.start()
  await waitFor(
    'all transfers',
    async () => {
      const c = await countSagas({ pool: db.pool, schema: 'bench' })
      return c.completed + c.compensated === n
    },
    { timeoutMs: 600_000, everyMs: 50 },
  )
  const ended = performance.now()
  for (const worker of workers) await worker.stop()
  await watcher.close()
  const seconds = (ended - started) / 1000
  process.stdout.write(
    `${JSON.stringify({
      transfers: n,
      workers: w,
      store: '@annals/store-postgres',
      queueMs: Math.round(queued - queuing),
      totalSeconds: Number(seconds.toFixed(2)),
      sagasPerSecond: Number((n / seconds).toFixed(1)),
    })}\n`,
  )
} finally {
  await db.drop()
}
