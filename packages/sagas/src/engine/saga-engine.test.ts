import type { RecordedEvent } from '@annals/core'
import { createInMemoryEventStore } from '@annals/core/in-memory'
import { describe, expect, it } from 'vitest'
import {
  Account,
  bankTransfer,
  ConfirmPayout,
  externalPayout,
  Mailbox,
  Payout,
  RejectPayout,
  transferWithReceipt,
} from '../../examples/bank-transfer.js'
import type { AnySagaDefinition } from '../saga-definition.js'
import { createSagaEngine } from './saga-engine.js'

async function setup(sagas: readonly AnySagaDefinition[] = [bankTransfer, transferWithReceipt]) {
  const store = createInMemoryEventStore()
  const engine = createSagaEngine({ store, sagas })
  const { createCommandHandler } = await import('@annals/core')
  const accounts = createCommandHandler(Account, { store })
  const mailboxes = createCommandHandler(Mailbox, { store })
  const payouts = createCommandHandler(Payout, { store })
  const open = async (accountId: string, currency: string, balance: number) => {
    await accounts.handle({ type: 'OpenAccount', data: { accountId, currency } })
    if (balance > 0) await accounts.handle({ type: 'Deposit', data: { accountId, amount: balance } })
  }
  const balance = async (accountId: string) => {
    const { state } = await accounts.load(`account-${accountId}`)
    return state.status === 'none' ? null : state.balance
  }
  const types = async (streamId: string) => (await store.readStream(streamId)).events.map((e) => e.type)
  return { store, engine, accounts, mailboxes, payouts, open, balance, types }
}

/** Two accounts (a: 100 EUR, b: empty) and a 30 EUR transfer with receipt started towards a blocked mailbox, so its final step fails. */
async function startReceiptToBlockedMailbox(transferId: string) {
  const t = await setup()
  await t.open('a', 'EUR', 100)
  await t.open('b', 'EUR', 0)
  await t.mailboxes.handle({ type: 'BlockMailbox', data: { mailbox: 'ann' } })
  await t.engine.start(transferWithReceipt, {
    transferId,
    from: 'a',
    to: 'b',
    amount: 30,
    currency: 'EUR',
    mailbox: 'ann',
  })
  return t
}

describe('orchestrated saga', () => {
  it('transfers money: debit then credit, completed', async () => {
    const t = await setup()
    await t.open('a', 'EUR', 100)
    await t.open('b', 'EUR', 0)
    const started = await t.engine.start(bankTransfer, {
      transferId: 't1',
      from: 'a',
      to: 'b',
      amount: 30,
      currency: 'EUR',
    })
    expect(started).toMatchObject({ saga: 'bank-transfer', sagaId: 't1', started: true })
    const result = await t.engine.drive('bank-transfer', 't1')
    expect(result).toMatchObject({ status: 'completed', wakeAt: null, currentStep: null })
    expect(await t.balance('a')).toBe(70)
    expect(await t.balance('b')).toBe(30)
    expect(await t.types('saga-bank-transfer-t1')).toEqual([
      'SagaStarted',
      'StepCommandIssued',
      'StepSucceeded',
      'StepCommandIssued',
      'StepSucceeded',
      'SagaCompleted',
    ])
  })

  it.each([
    [
      'a closed target',
      async (t: Awaited<ReturnType<typeof setup>>) => {
        await t.open('b', 'EUR', 0)
        await t.accounts.handle({ type: 'CloseAccount', data: { accountId: 'b' } })
      },
      'BANK_ACCOUNT_CLOSED',
    ],
    [
      'a currency mismatch',
      async (t: Awaited<ReturnType<typeof setup>>) => t.open('b', 'USD', 0),
      'BANK_CURRENCY_MISMATCH',
    ],
  ])('refunds the source when the credit fails on %s', async (_, prepareTarget, code) => {
    const t = await setup()
    await t.open('a', 'EUR', 100)
    await prepareTarget(t)
    await t.engine.start(bankTransfer, { transferId: 't2', from: 'a', to: 'b', amount: 30, currency: 'EUR' })
    const result = await t.engine.drive('bank-transfer', 't2')
    expect(result.status).toBe('compensated')
    expect(await t.balance('a')).toBe(100)
    expect(await t.types('account-a')).toEqual(['AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn', 'MoneyDeposited'])
    const state = await t.engine.load('bank-transfer', 't2')
    expect(state?.failedStep).toBe('credit-target')
    expect(state?.steps[1]?.failure?.error.code).toBe(code)
    expect(state?.steps.map((s) => s.status)).toEqual(['compensated', 'failed'])
  })

  it('runs compensations in reverse order when the final step fails', async () => {
    const t = await startReceiptToBlockedMailbox('t3')
    expect((await t.engine.drive('transfer-with-receipt', 't3')).status).toBe('compensated')
    const history = await t.engine.history('transfer-with-receipt', 't3')
    const undo = history.filter((e) => e.type === 'CompensationIssued').map((e) => (e.data as { step: string }).step)
    expect(undo).toEqual(['credit-target', 'debit-source'])
    expect(await t.balance('a')).toBe(100)
    expect(await t.balance('b')).toBe(0)
  })

  it('ends failed, not compensated, when a compensation is refused', async () => {
    const t = await startReceiptToBlockedMailbox('t4')
    // The target spends the money before the saga undoes the credit.
    const engine = createSagaEngine({
      store: t.store,
      sagas: [transferWithReceipt],
      hooks: {
        async boundary(b) {
          if (b.point === 'appended' && b.eventType === 'StepSucceeded' && b.step === 'credit-target') {
            await t.accounts.handle({ type: 'Withdraw', data: { accountId: 'b', amount: 30 } })
          }
        },
      },
    })
    const result = await engine.drive('transfer-with-receipt', 't4')
    expect(result.status).toBe('failed')
    const state = await engine.load('transfer-with-receipt', 't4')
    expect(state?.failureReason).toMatch(/credit-target.*refused/)
    expect(state?.steps.map((s) => s.status)).toEqual(['succeeded', 'compensation-failed', 'failed'])
  })

  it('starts once per saga id', async () => {
    const t = await setup()
    const input = { transferId: 't5', from: 'a', to: 'b', amount: 1, currency: 'EUR' }
    expect((await t.engine.start(bankTransfer, input)).started).toBe(true)
    expect((await t.engine.start(bankTransfer, input)).started).toBe(false)
    expect(await t.types('saga-bank-transfer-t5')).toEqual(['SagaStarted'])
  })

  it('resumes after a crash at every boundary, sending each command once', async () => {
    // Count the boundaries of a clean run, then crash at each one in turn and drive again.
    const boundaries = async (crashAt: number) => {
      const t = await setup()
      await t.open('a', 'EUR', 100)
      await t.open('b', 'EUR', 0)
      await t.mailboxes.handle({ type: 'BlockMailbox', data: { mailbox: 'blocked' } })
      let seen = 0
      const crashing = createSagaEngine({
        store: t.store,
        sagas: [transferWithReceipt],
        hooks: {
          boundary() {
            seen++
            if (seen === crashAt) throw new Error('crash')
          },
        },
      })
      const outcome: string[] = []
      for (const mailbox of ['ann', 'blocked']) {
        const transferId = `t-${mailbox}`
        seen = 0
        await crashing
          .start(transferWithReceipt, { transferId, from: 'a', to: 'b', amount: 10, currency: 'EUR', mailbox })
          .catch(() => {})
        await crashing.drive('transfer-with-receipt', transferId).catch(() => {})
        const restarted = createSagaEngine({ store: t.store, sagas: [transferWithReceipt] })
        await restarted.start(transferWithReceipt, {
          transferId,
          from: 'a',
          to: 'b',
          amount: 10,
          currency: 'EUR',
          mailbox,
        })
        outcome.push((await restarted.drive('transfer-with-receipt', transferId)).status)
      }
      return { t, seen, outcome }
    }
    const clean = await boundaries(0)
    expect(clean.outcome).toEqual(['completed', 'compensated'])
    for (let crashAt = 1; crashAt <= 16; crashAt++) {
      const { t, outcome } = await boundaries(crashAt)
      expect(outcome, `crash at boundary ${crashAt}`).toEqual(['completed', 'compensated'])
      // a: -10 (completed) and -10 +10 (compensated); b: +10 (completed) and +10 -10 (compensated)
      expect(await t.types('account-a')).toEqual([
        'AccountOpened',
        'MoneyDeposited',
        'MoneyWithdrawn',
        'MoneyWithdrawn',
        'MoneyDeposited',
      ])
      expect(await t.types('account-b')).toEqual([
        'AccountOpened',
        'MoneyDeposited',
        'MoneyDeposited',
        'MoneyWithdrawn',
      ])
      expect(await t.types('mailbox-ann')).toEqual(['ReceiptSent'])
      expect(await t.balance('a')).toBe(90)
      expect(await t.balance('b')).toBe(10)
    }
  })
})

describe('steps confirmed by events', () => {
  const payoutSaga = externalPayout(1000)
  const input = { payoutId: 'p1', from: 'a', amount: 40 }

  it('completes when the confirmation event is delivered', async () => {
    const t = await setup([payoutSaga])
    await t.open('a', 'EUR', 100)
    await t.engine.start(payoutSaga, input)
    const waiting = await t.engine.drive('external-payout', 'p1')
    expect(waiting.status).toBe('running')
    expect(waiting.currentStep).toBe('pay-out')
    expect(waiting.wakeAt).toBeInstanceOf(Date)
    const confirmed = await t.payouts.handle(ConfirmPayout.create({ payoutId: 'p1' }))
    const event = confirmed.events[0] as RecordedEvent
    expect(await t.engine.deliver(event)).toEqual([{ saga: 'external-payout', sagaId: 'p1', step: 'pay-out' }])
    // Delivering twice records it once.
    await t.engine.deliver(event)
    expect((await t.engine.drive('external-payout', 'p1')).status).toBe('completed')
    expect((await t.types('saga-external-payout-p1')).filter((x) => x === 'StepEventReceived')).toHaveLength(1)
    expect(await t.balance('a')).toBe(60)
  })

  it('compensates when the refusal event is delivered, without undoing the refused step', async () => {
    const t = await setup([payoutSaga])
    await t.open('a', 'EUR', 100)
    await t.engine.start(payoutSaga, input)
    await t.engine.drive('external-payout', 'p1')
    const refused = await t.payouts.handle(RejectPayout.create({ payoutId: 'p1' }))
    await t.engine.deliver(refused.events[0] as RecordedEvent)
    expect((await t.engine.drive('external-payout', 'p1')).status).toBe('compensated')
    expect(await t.types('payout-p1')).toEqual(['PayoutRequested', 'PayoutRejected'])
    expect(await t.balance('a')).toBe(100)
  })

  it('times out at the deadline and undoes the accepted step too, last first', async () => {
    const t = await setup([payoutSaga])
    await t.open('a', 'EUR', 100)
    await t.engine.start(payoutSaga, input)
    const waiting = await t.engine.drive('external-payout', 'p1')
    const deadline = waiting.wakeAt as Date
    const early = await t.engine.drive('external-payout', 'p1', { now: new Date(deadline.getTime() - 1) })
    expect(early.status).toBe('running')
    const late = await t.engine.drive('external-payout', 'p1', { now: deadline })
    expect(late.status).toBe('compensated')
    expect(await t.types('payout-p1')).toEqual(['PayoutRequested', 'PayoutCancelled'])
    expect(await t.balance('a')).toBe(100)
    const state = await t.engine.load('external-payout', 'p1')
    expect(state?.steps[1]?.failure?.reason).toBe('timeout')
  })

  it('ignores events for instances that do not exist', async () => {
    const t = await setup([payoutSaga])
    await t.payouts.handle({ type: 'RequestPayout', data: { payoutId: 'zz', amount: 1 } })
    const confirmed = await t.payouts.handle(ConfirmPayout.create({ payoutId: 'zz' }))
    expect(await t.engine.deliver(confirmed.events[0] as RecordedEvent)).toEqual([])
    expect((await t.store.readStream('saga-external-payout-zz')).streamExists).toBe(false)
  })
})

describe('sagas started by events', () => {
  it('starts one instance per trigger event (and per saga id), caused by it', async () => {
    const { requestedTransfer, TransferRequested } = await import('../../test/worker-sagas.js')
    const t = await setup([requestedTransfer])
    await t.open('a', 'EUR', 100)
    await t.open('b', 'EUR', 0)
    const input = { transferId: 'r1', from: 'a', to: 'b', amount: 5, currency: 'EUR' }
    const appended = await t.store.appendToStream('requests', [TransferRequested.create(input)])
    const event = appended.events[0] as RecordedEvent
    expect(t.engine.handledTypes).toEqual(['TransferRequested'])
    expect(await t.engine.trigger(event)).toMatchObject([{ saga: 'requested-transfer', sagaId: 'r1', started: true }])
    expect(await t.engine.trigger(event)).toMatchObject([{ started: false }])
    const history = await t.engine.history('requested-transfer', 'r1')
    expect(history).toHaveLength(1)
    expect(history[0]?.metadata).toMatchObject({ causationId: event.eventId })
    expect(history[0]?.data).toMatchObject({ triggeredBy: event.eventId })
    expect((await t.engine.drive('requested-transfer', 'r1')).status).toBe('completed')
    expect(await t.balance('b')).toBe(5)
  })

  it('refuses to start without a saga id, and a saga it was not given', async () => {
    const t = await setup([bankTransfer])
    await expect(t.engine.start('nope', {})).rejects.toMatchObject({ code: 'ANNALS_SAGA_ERR_UNKNOWN_SAGA' })
    await expect(
      t.engine.start(bankTransfer, { transferId: 'x', from: 'a', to: 'b', amount: -1, currency: 'EUR' }),
    ).rejects.toMatchObject({ code: 'ANNALS_ERR_VALIDATION' })
  })
})
