import { randomUUID } from 'node:crypto'
import { DomainError, deterministicId, type IdempotencyStore } from '@annals/core'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { BankErrorCodes } from '../accounts/account.js'
import { problem } from '../http/error-handler.js'
import { idempotent } from '../http/idempotency.js'
import { TransferRequest, type Transfers } from './transfers.js'

const Step = z.object({
  name: z.enum(['debit-source', 'credit-target', 'refund-source']),
  status: z.enum(['done', 'failed']),
  at: z.string(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
})

const TransferResponse = z.object({
  transferId: z.string(),
  fromAccountId: z.string(),
  toAccountId: z.string(),
  amount: z.number(),
  description: z.string().nullable(),
  status: z.enum(['running', 'completed', 'compensated', 'failed']),
  steps: z.array(Step),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  startedAt: z.string(),
  updatedAt: z.string(),
})

/** The transfer routes: start a transfer saga, read its state and steps. */
export function transferRoutes(deps: { transfers: Transfers; idempotency: IdempotencyStore }): FastifyPluginAsyncZod {
  const { transfers, idempotency } = deps
  return async (app) => {
    app.post(
      '/transfers',
      {
        schema: {
          tags: ['transfers'],
          summary: 'Transfer money: a saga that debits the source, credits the target, refunds on failure',
          body: TransferRequest,
          response: { 201: TransferResponse },
        },
      },
      async (request, reply) => {
        await idempotent(idempotency, request, reply, async (key) => {
          const body = request.body
          if (body.fromAccountId === body.toAccountId) {
            throw new DomainError(BankErrorCodes.SAME_ACCOUNT, 'A transfer needs two different accounts')
          }
          const transferId = key ? deterministicId(`transfer\u0000${key}`) : randomUUID()
          const view = await transfers.start(transferId, body)
          if (view.status === 'completed') return { status: 201, body: view }
          // A refused or compensated transfer is a business outcome: 422, with the saga to look at.
          const code = view.error?.code ?? 'BANK_TRANSFER_FAILED'
          const detail =
            view.status === 'compensated'
              ? `The credit failed (${view.error?.message ?? code}); the source account was refunded`
              : `The transfer was refused: ${view.error?.message ?? code}`
          return {
            status: 422,
            problem: true,
            body: { ...problem(422, code, detail), transferId: view.transferId, transfer: view },
          }
        })
      },
    )

    app.get(
      '/transfers/:id',
      {
        schema: {
          tags: ['transfers'],
          summary: 'A transfer saga: state and steps',
          params: z.strictObject({ id: z.uuid('must be a transfer id (a UUID)') }),
          response: { 200: TransferResponse },
        },
      },
      async (request) => {
        const view = await transfers.get(request.params.id)
        if (!view) throw new DomainError('BANK_TRANSFER_NOT_FOUND', `Transfer ${request.params.id} does not exist`)
        return { ...view, steps: [...view.steps] }
      },
    )
  }
}
