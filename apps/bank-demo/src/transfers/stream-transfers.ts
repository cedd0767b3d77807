import { type EventStore, isAnnalsError, isConcurrencyError, type NewEvent, type RecordedEvent } from '@annals/core'
import { DepositMoney, WithdrawMoney } from '../accounts/account.js'
import type { AccountService } from '../accounts/account-service.js'
import type { TransferRequest, TransferStep, TransferStepName, Transfers, TransferView } from './transfers.js'

/**
 * Transfers as an orchestrated saga whose state is its own event stream (`transfer-<id>`): each step
 * is recorded after it ran, so a crash mid-way resumes from the last recorded step. Each step's
 * command carries an idempotency key derived from the transfer and the step, so a step re-run after
 * a crash finds its own events instead of moving money twice.
 */
export function createStreamTransfers(deps: { store: EventStore; accounts: AccountService }): Transfers {
  const { store, accounts } = deps
  const streamOf = (transferId: string) => `transfer-${transferId}`

  type SagaEvent = { type: string; data: Record<string, unknown> }
  type Raw = RecordedEvent<SagaEvent>

  function fold(events: readonly Raw[]): TransferView | null {
    let view = null as TransferView | null
    for (const e of events) {
      const at = e.recordedAt.toISOString()
      if (e.type === 'TransferStarted') {
        const d = e.data as TransferRequest & { transferId: string }
        view = {
          transferId: d.transferId,
          fromAccountId: d.fromAccountId,
          toAccountId: d.toAccountId,
          amount: d.amount,
          description: d.description ?? null,
          status: 'running',
          steps: [],
          error: null,
          startedAt: at,
          updatedAt: at,
        }
      } else if (view && e.type === 'TransferStepRecorded') {
        const step = e.data as Omit<TransferStep, 'at'>
        view = { ...view, steps: [...view.steps, { ...step, at }], updatedAt: at }
      } else if (view && e.type === 'TransferEnded') {
        const d = e.data as { status: TransferView['status']; error: TransferView['error'] }
        view = { ...view, status: d.status, error: d.error, updatedAt: at }
      }
    }
    return view
  }

  async function read(transferId: string) {
    const result = await store.readStream<SagaEvent>(streamOf(transferId))
    return { view: fold(result.events), version: result.currentVersion }
  }

  async function append(transferId: string, version: bigint, event: NewEvent) {
    await store.appendToStream(streamOf(transferId), [event], { expectedVersion: version })
    return version + 1n
  }

  async function runStep(view: TransferView, name: TransferStepName) {
    const key = `transfer:${view.transferId}:${name}`
    const description = view.description ?? `Transfer ${view.transferId.slice(0, 8)}`
    const common = { amount: view.amount, transferId: view.transferId }
    if (name === 'debit-source') {
      await accounts.handler.handle(
        WithdrawMoney.create(
          { ...common, accountId: view.fromAccountId, description },
          { idempotencyKey: key, correlationId: view.transferId },
        ),
      )
    } else if (name === 'credit-target') {
      const source = await accounts.balanceAt(view.fromAccountId, undefined)
      await accounts.handler.handle(
        DepositMoney.create(
          { ...common, accountId: view.toAccountId, currency: source.currency ?? undefined, description },
          { idempotencyKey: key, correlationId: view.transferId },
        ),
      )
    } else {
      await accounts.handler.handle(
        DepositMoney.create(
          { ...common, accountId: view.fromAccountId, description: `Refund: ${description}` },
          { idempotencyKey: key, correlationId: view.transferId },
        ),
      )
    }
  }

  const errorOf = (error: unknown) =>
    isAnnalsError(error) || (error as { code?: unknown })?.code
      ? { code: String((error as { code: unknown }).code), message: (error as Error).message }
      : null

  /** Drives the saga from its recorded state to an end state. */
  async function drive(transferId: string): Promise<TransferView> {
    for (;;) {
      const { view, version } = await read(transferId)
      if (!view) throw new Error(`transfer ${transferId} has no saga stream`)
      if (view.status !== 'running') return view
      const done = new Set(view.steps.filter((s) => s.status === 'done').map((s) => s.name))
      const failed = view.steps.find((s) => s.status === 'failed')
      let next: TransferStepName | null
      if (!failed)
        next = done.has('debit-source') ? (done.has('credit-target') ? null : 'credit-target') : 'debit-source'
      else if (failed.name === 'credit-target' && !done.has('refund-source')) next = 'refund-source'
      else next = null
      if (next === null) {
        const status: TransferView['status'] = !failed
          ? 'completed'
          : failed.name === 'debit-source'
            ? 'failed'
            : 'compensated'
        await append(transferId, version, { type: 'TransferEnded', data: { status, error: failed?.error ?? null } })
        continue
      }
      let step: Omit<TransferStep, 'at'>
      try {
        await runStep(view, next)
        step = { name: next, status: 'done', error: null }
      } catch (error) {
        const code = errorOf(error)
        // Only business refusals end a step; infrastructure errors propagate and the saga resumes later.
        if (!code?.code.startsWith('BANK_') || next === 'refund-source') throw error
        step = { name: next, status: 'failed', error: code ?? null }
      }
      try {
        await append(transferId, version, { type: 'TransferStepRecorded', data: step })
      } catch (error) {
        // Someone else drove the same transfer concurrently: read again and carry on from there.
        if (!isConcurrencyError(error)) throw error
      }
    }
  }

  return {
    async start(transferId, request) {
      try {
        await store.appendToStream(
          streamOf(transferId),
          [{ type: 'TransferStarted', data: { transferId, ...request } }],
          { expectedVersion: 'no-stream' },
        )
      } catch (error) {
        if (!isConcurrencyError(error)) throw error
      }
      return drive(transferId)
    },
    async get(transferId) {
      return (await read(transferId)).view
    },
    async close() {},
  }
}
