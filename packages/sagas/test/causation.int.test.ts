import type { RecordedEvent } from '@annals/core'
import { waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { bankTransfer } from '../examples/bank-transfer.js'
import { startSaga } from '../src/postgres/start-saga.js'
import { sagaStreamId } from '../src/saga-definition.js'
import { createWorld, settled, spawnWorker, useTestDatabase } from './helpers.js'

const db = useTestDatabase()

describe('causation across reactions', () => {
  it('stamps the events of a reaction and of a saga step with the id of the stored event that caused them', async () => {
    const world = await createWorld(db.pool, 'causation')
    await world.open('src-1', 'EUR', 0)
    await world.open('mirror-1', 'EUR', 0)
    await world.open('a', 'EUR', 100)
    await world.open('b', 'EUR', 0)
    const worker = spawnWorker({ DATABASE_URL: db.url, SCHEMA: 'causation' })
    const byId = async () => {
      const all = await world.store.readAll({ limit: 10_000 })
      return new Map<string, RecordedEvent>(all.events.map((e) => [e.eventId, e]))
    }

    // Choreography: the mirror-deposits reactor answers a deposit to src-1 with one to mirror-1.
    const deposit = await world.accounts.handle({ type: 'Deposit', data: { accountId: 'src-1', amount: 25 } })
    const trigger = deposit.events[0] as RecordedEvent
    await waitFor('the mirrored deposit', async () => (await world.balance('mirror-1')) === 25, 30_000)
    const mirrored = (await world.store.readStream('account-mirror-1')).events[1] as RecordedEvent
    expect(mirrored.metadata.causationId, worker.output()).toBe(trigger.eventId)
    expect(mirrored.metadata.correlationId).toBe(trigger.metadata.correlationId)
    expect((await byId()).get(trigger.eventId)?.type).toBe('MoneyDeposited')

    // Orchestration: each step's command is caused by the saga's StepCommandIssued event.
    const input = { transferId: 't1', from: 'a', to: 'b', amount: 30, currency: 'EUR' }
    await startSaga({ pool: db.pool, store: world.store, schema: 'causation' }, bankTransfer, input, {
      correlationId: 'transfer-t1',
    })
    expect(await settled(world, 'bank-transfer', 't1', worker)).toBe('completed')
    await worker.kill()
    const events = await byId()
    const sagaStream = sagaStreamId('bank-transfer', 't1')
    for (const [streamId, type, step] of [
      ['account-a', 'MoneyWithdrawn', 'debit-source'],
      ['account-b', 'MoneyDeposited', 'credit-target'],
    ] as const) {
      const stepEvent = (await world.store.readStream(streamId)).events.find((e) => e.type === type)
      expect(stepEvent?.metadata.correlationId).toBe('transfer-t1')
      const cause = events.get(String(stepEvent?.metadata.causationId))
      expect(cause?.streamId).toBe(sagaStream)
      expect(cause?.type).toBe('StepCommandIssued')
      expect(cause?.data).toMatchObject({ step })
    }
  })
})
