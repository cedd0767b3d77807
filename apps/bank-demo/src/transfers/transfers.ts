import { z } from 'zod'
import { Text } from '../accounts/account.js'

/** What starts a transfer. */
export const TransferRequest = z.strictObject({
  fromAccountId: z.uuid(),
  toAccountId: z.uuid(),
  amount: z
    .number()
    .int('must be an integer number of minor units')
    .positive('must be positive')
    .max(Number.MAX_SAFE_INTEGER, 'must be at most 2^53 - 1'),
  description: Text(500).optional(),
})

/** A validated transfer request. */
export type TransferRequest = z.infer<typeof TransferRequest>

/** The steps of a transfer saga, in order; `refund-source` is the compensation of `debit-source`. */
export type TransferStepName = 'debit-source' | 'credit-target' | 'refund-source'

/** One step of a transfer as the saga recorded it. */
export type TransferStep = Readonly<{
  name: TransferStepName
  status: 'done' | 'failed'
  at: string
  error: Readonly<{ code: string; message: string }> | null
}>

/** A transfer's saga state (`GET /transfers/:id`). */
export type TransferView = Readonly<{
  transferId: string
  fromAccountId: string
  toAccountId: string
  amount: number
  description: string | null
  /** `compensated`: the credit failed and the source was refunded; `failed`: the debit was refused. */
  status: 'running' | 'completed' | 'compensated' | 'failed'
  steps: readonly TransferStep[]
  error: Readonly<{ code: string; message: string }> | null
  startedAt: string
  updatedAt: string
}>

/** Runs transfers between accounts and reports their saga state. */
export interface Transfers {
  /** Runs the transfer saga to its end; starting an existing transfer id returns its state, nothing re-runs. */
  start(transferId: string, request: TransferRequest): Promise<TransferView>
  get(transferId: string): Promise<TransferView | null>
  /** Stops background work (saga workers), if any. */
  close(): Promise<void>
}
