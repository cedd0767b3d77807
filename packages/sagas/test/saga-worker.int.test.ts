import { waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { transferWithReceipt } from '../examples/bank-transfer.js'
import { countSagas, getSaga, listSagas } from '../src/postgres/saga-admin.js'
import { startSaga } from '../src/postgres/start-saga.js'
import { createWorld, settled, spawnWorker, useTestDatabase } from './helpers.js'
import { PAYOUT_DEADLINE_MS, payoutSaga } from './worker-sagas.js'

const db = useTestDatabase()
const spawn = (env: Record<string, string>) =>
  spawnWorker({ DATABASE_URL: db.url, DEADLINE_MS: String(PAYOUT_DEADLINE_MS), ...env })

describe('saga worker on PostgreSQL', () => {
  it('runs the compensations of a failing final step in reverse order and ends compensated', async () => {
    const world = await createWorld(db.pool, 'reverse')
    await world.open('a', 'EUR', 100)
    await world.open('b', 'EUR', 0)
    await world.mailboxes.handle({ type: 'BlockMailbox', data: { mailbox: 'ann' } })
    const worker = spawn({ SCHEMA: 'reverse' })
    const input = { transferId: 'r1', from: 'a', to: 'b', amount: 30, currency: 'EUR', mailbox: 'ann' }
    await startSaga({ pool: db.pool, store: world.store, schema: 'reverse' }, transferWithReceipt, input)
    expect(await settled(world, 'transfer-with-receipt', 'r1', worker)).toBe('compensated')
    await worker.kill()

    const details = await getSaga(
      { store: world.store, pool: db.pool, schema: 'reverse' },
      'transfer-with-receipt',
      'r1',
    )
    expect(details.state.status).toBe('compensated')
    expect(details.summary).toMatchObject({ status: 'compensated', currentStep: null, wakeAt: null })
    const steps = details.history.map((h) => `${h.type}${h.step ? `:${h.step}` : ''}`)
    expect(steps).toEqual([
      'SagaStarted',
      'StepCommandIssued:debit-source',
      'StepSucceeded:debit-source',
      'StepCommandIssued:credit-target',
      'StepSucceeded:credit-target',
      'StepCommandIssued:send-receipt',
      'StepFailed:send-receipt',
      'CompensationIssued:credit-target',
      'Compensated:credit-target',
      'CompensationIssued:debit-source',
      'Compensated:debit-source',
      'SagaCompensated',
    ])
    expect(await world.balance('a')).toBe(100)
    expect(await world.balance('b')).toBe(0)
    expect(await world.types('account-b')).toEqual(['AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn'])
    const listed = await listSagas({ pool: db.pool, schema: 'reverse', status: 'compensated' })
    expect(listed.map((s) => s.sagaId)).toEqual(['r1'])
    expect(await listSagas({ pool: db.pool, schema: 'reverse', status: ['running', 'failed'] })).toEqual([])
    expect(await countSagas({ pool: db.pool, schema: 'reverse' })).toMatchObject({ compensated: 1, running: 0 })
  })

  it('fires a deadline that expired while the worker was down: compensation runs after the restart', async () => {
    const world = await createWorld(db.pool, 'deadline')
    await world.open('a', 'EUR', 100)
    const first = spawn({ SCHEMA: 'deadline' })
    await startSaga({ pool: db.pool, store: world.store, schema: 'deadline' }, payoutSaga, {
      payoutId: 'p1',
      from: 'a',
      amount: 40,
    })
    // The worker records the wait: the row holds the deadline, and nobody holds the instance.
    const waiting = await waitFor('the payout to wait for its confirmation', async () => {
      const { rows } = await db.pool.query<{ deadline_at: Date | null; db_now: Date }>(
        `SELECT deadline_at, now() AS db_now FROM deadline.saga_instances
         WHERE saga_id = 'p1' AND current_step = 'pay-out' AND locked_by IS NULL AND deadline_at IS NOT NULL`,
      )
      return rows[0]
    })
    await first.kill()
    expect((await first.exited).signal).toBe('SIGKILL')
    expect(await world.types('payout-p1')).toEqual(['PayoutRequested'])
    expect(await world.balance('a')).toBe(60)
    expect(waiting.deadline_at?.getTime()).toBeGreaterThan(waiting.db_now.getTime())

    // Nobody runs while the deadline passes.
    await waitFor(
      'the deadline to pass',
      async () => {
        const { rows } = await db.pool.query<{ passed: boolean }>(
          `SELECT now() > deadline_at + interval '200 milliseconds' AS passed FROM deadline.saga_instances WHERE saga_id = 'p1'`,
        )
        return rows[0]?.passed
      },
      { timeoutMs: PAYOUT_DEADLINE_MS + 10_000, everyMs: 100 },
    )
    expect(await world.status('external-payout', 'p1')).toBe('running')

    const second = spawn({ SCHEMA: 'deadline' })
    expect(await settled(world, 'external-payout', 'p1', second)).toBe('compensated')
    await second.kill()
    expect(await world.types('payout-p1')).toEqual(['PayoutRequested', 'PayoutCancelled'])
    expect(await world.balance('a')).toBe(100)
    const details = await getSaga({ store: world.store }, 'external-payout', 'p1')
    expect(details.state.steps[1]?.failure?.reason).toBe('timeout')
  })

  it('routes a confirmation event from the log to the waiting saga', async () => {
    const world = await createWorld(db.pool, 'confirm')
    await world.open('a', 'EUR', 100)
    const worker = spawn({ SCHEMA: 'confirm', DEADLINE_MS: '60000' })
    await startSaga({ pool: db.pool, store: world.store, schema: 'confirm' }, payoutSaga, {
      payoutId: 'p2',
      from: 'a',
      amount: 40,
    })
    await waitFor('the payout request', async () => (await world.types('payout-p2')).length === 1)
    await world.payouts.handle({ type: 'ConfirmPayout', data: { payoutId: 'p2' } })
    expect(await settled(world, 'external-payout', 'p2', worker)).toBe('completed')
    await worker.kill()
    expect(await world.balance('a')).toBe(60)
  })
})
