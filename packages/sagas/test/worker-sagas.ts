// The sagas and reactors the worker-process tests run (shared by the tests and the child process).
import { appendFileSync } from 'node:fs'
import { defineEvent } from '@annals/core'
import {
  Account,
  bankTransfer,
  externalPayout,
  MoneyDeposited,
  TransferInput,
  transferSteps,
  transferWithReceipt,
} from '../examples/bank-transfer.js'
import { defineReactor } from '../src/reactor.js'
import { defineSaga, startOn } from '../src/saga-definition.js'

export const PAYOUT_DEADLINE_MS = Number(process.env.DEADLINE_MS ?? 1500)
export const payoutSaga = externalPayout(PAYOUT_DEADLINE_MS)

/** A request recorded by some other part of the system; the saga starts from it (choreography hands over). */
export const TransferRequested = defineEvent('TransferRequested', TransferInput)

/** The bank transfer's steps, started by `TransferRequested` events instead of `startSaga`. */
export const requestedTransfer = defineSaga({
  name: 'requested-transfer',
  input: TransferInput,
  sagaId: (input) => input.transferId,
  startedBy: [startOn(TransferRequested, { input: (event) => event.data })],
  // The same steps as bankTransfer; only how an instance starts differs.
  steps: transferSteps,
})

export const workerSagas = [bankTransfer, transferWithReceipt, payoutSaga, requestedTransfer]

/** Every deposit to an account `src-<x>` is mirrored to `mirror-<x>` (a stand-in for a downstream service). */
export const mirrorDeposits = defineReactor({
  name: 'mirror-deposits',
  handles: [MoneyDeposited],
  async react(event, { send }) {
    if (!event.data.accountId.startsWith('src-')) return
    if (process.env.REACTION_LOG) appendFileSync(process.env.REACTION_LOG, `${event.eventId}\n`)
    await send(Account, {
      type: 'Deposit',
      data: { accountId: `mirror-${event.data.accountId.slice(4)}`, amount: event.data.amount },
    })
    // The command took effect; dying before the checkpoint commits makes the runner redeliver the event.
    if (process.env.CRASH_AFTER_REACTION === '1') process.kill(process.pid, 'SIGKILL')
  },
})
