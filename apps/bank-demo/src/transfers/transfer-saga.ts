import type { EventStore, IdempotencyStore, RecordedEvent, SnapshotStore } from '@annals/core'
import { createSagaEngine, defineSaga, type SagaEvent, type SagaState } from '@annals/sagas'
import { z } from 'zod'
import { BankAccount, DepositMoney, WithdrawMoney } from '../accounts/account.js'
import type { AccountService } from '../accounts/account-service.js'
import type { TransferStep, Transfers, TransferView } from './transfers.js'

/** The input of the transfer saga. */
const TransferSagaInput = z.object({
  transferId: z.uuid(),
  fromAccountId: z.uuid(),
  toAccountId: z.uuid(),
  amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  /** The source's currency: the credit is refused when the target holds another one. */
  currency: z.string().optional(),
  description: z.string(),
})

/**
 * The transfer as an orchestrated saga (@annals/sagas): debit the source, then credit the target.
 * When the credit is refused (closed target, currency mismatch, unknown target) the engine runs the
 * debit's compensation, a refund to the source. Every step is recorded in the saga's own stream
 * before and after it runs, and its command carries an idempotency key, so a re-drive after a crash
 * never moves money twice.
 */
export const TransferSaga = defineSaga({
  name: 'transfer',
  input: TransferSagaInput,
  sagaId: (input) => input.transferId,
  steps: (step) => [
    step({
      name: 'debit-source',
      aggregate: BankAccount,
      command: ({ input }) =>
        WithdrawMoney.create({
          accountId: input.fromAccountId,
          amount: input.amount,
          description: input.description,
          transferId: input.transferId,
        }),
      compensate: ({ input }) =>
        DepositMoney.create({
          accountId: input.fromAccountId,
          amount: input.amount,
          description: `Refund: ${input.description}`,
          transferId: input.transferId,
        }),
    }),
    step({
      name: 'credit-target',
      aggregate: BankAccount,
      command: ({ input }) =>
        DepositMoney.create({
          accountId: input.toAccountId,
          amount: input.amount,
          currency: input.currency,
          description: input.description,
          transferId: input.transferId,
        }),
    }),
  ],
})

/** Builds the transfer view (`GET /transfers/:id`) from the saga's state and history. */
function toView(state: SagaState, history: readonly RecordedEvent<SagaEvent>[]): TransferView {
  const input = state.input as z.infer<typeof TransferSagaInput>
  const steps: TransferStep[] = []
  let error: TransferView['error'] = null
  for (const e of history) {
    const at = e.recordedAt.toISOString()
    if (e.type === 'StepSucceeded') {
      steps.push({ name: e.data.step as TransferStep['name'], status: 'done', at, error: null })
    } else if (e.type === 'StepFailed') {
      error = e.data.error
      steps.push({ name: e.data.step as TransferStep['name'], status: 'failed', at, error: e.data.error })
    } else if (e.type === 'Compensated') {
      steps.push({ name: 'refund-source', status: 'done', at, error: null })
    } else if (e.type === 'CompensationFailed') {
      steps.push({ name: 'refund-source', status: 'failed', at, error: e.data.error })
    }
  }
  const refused = state.failedStep === 'debit-source'
  const status: TransferView['status'] =
    state.status === 'completed'
      ? 'completed'
      : state.status === 'compensated'
        ? refused
          ? 'failed'
          : 'compensated'
        : state.status === 'failed'
          ? 'failed'
          : 'running'
  return {
    transferId: input.transferId,
    fromAccountId: input.fromAccountId,
    toAccountId: input.toAccountId,
    amount: input.amount,
    description: input.description,
    status,
    steps,
    error,
    startedAt: state.startedAt.toISOString(),
    updatedAt: state.updatedAt.toISOString(),
  }
}

/** Transfers run by the saga engine on the event store (saga streams live next to the accounts). */
export function createSagaTransfers(deps: {
  store: EventStore
  accounts: AccountService
  snapshots?: SnapshotStore
  idempotency?: IdempotencyStore
}): Transfers {
  const engine = createSagaEngine({
    store: deps.store,
    sagas: [TransferSaga],
    ...(deps.snapshots ? { snapshots: deps.snapshots } : {}),
    ...(deps.idempotency ? { idempotency: deps.idempotency } : {}),
    retry: { maxAttempts: 20, maxDelayMs: 100 },
  })

  async function view(transferId: string): Promise<TransferView | null> {
    const history = await engine.history(TransferSaga.name, transferId)
    const state = await engine.load(TransferSaga.name, transferId)
    return state ? toView(state, history) : null
  }

  return {
    async start(transferId, request) {
      let currency: string | undefined
      try {
        currency = (await deps.accounts.balanceAt(request.fromAccountId, undefined)).currency ?? undefined
      } catch {
        // An unknown source is refused by the debit step itself, recorded in the saga like any refusal.
      }
      await engine.start(TransferSaga, {
        transferId,
        fromAccountId: request.fromAccountId,
        toAccountId: request.toAccountId,
        amount: request.amount,
        currency,
        description: request.description ?? `Transfer ${transferId.slice(0, 8)}`,
      })
      await engine.drive(TransferSaga.name, transferId)
      const result = await view(transferId)
      if (!result) throw new Error(`transfer saga ${transferId} vanished after start`)
      return result
    },
    get: view,
    async close() {},
  }
}
