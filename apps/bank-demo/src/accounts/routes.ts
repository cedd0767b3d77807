import { randomUUID } from 'node:crypto'
import { type AsOf, DomainError, deterministicId, type IdempotencyStore, MAX_STREAM_VERSION } from '@annals/core'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { idempotent } from '../http/idempotency.js'
import type { AccountsReadModel } from '../read-models/read-model.js'
import {
  Amount,
  BankErrorCodes,
  CloseAccount,
  Currency,
  DepositMoney,
  OpenAccount,
  Text,
  WithdrawMoney,
} from './account.js'
import type { AccountService } from './account-service.js'

/** What the account routes need. */
export type AccountRoutesDeps = Readonly<{
  accounts: AccountService
  readModel: AccountsReadModel
  idempotency: IdempotencyStore
}>

const Params = z.strictObject({ id: z.uuid('must be an account id (a UUID)') })

const OpenBody = z.strictObject({
  owner: Text(200),
  currency: Currency,
  overdraftLimit: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
})

const MoneyBody = z.strictObject({ amount: Amount, description: Text(500).optional() })

// What the write side's account and the read model's summary both say about an account.
const AccountFields = {
  accountId: z.string(),
  owner: z.string(),
  currency: z.string(),
  status: z.enum(['open', 'closed']),
  balance: z.number(),
  overdraftLimit: z.number(),
}

const AccountResponse = z.object({ ...AccountFields, version: z.string() })

const MovementResponse = z.object({
  accountId: z.string(),
  eventId: z.string(),
  balance: z.number(),
  version: z.string(),
  recordedAt: z.string(),
})

const Summary = z.object({
  ...AccountFields,
  transactions: z.number(),
  openedAt: z.string(),
  updatedAt: z.string(),
  version: z.string(),
})

// `at` must be a full ISO 8601 date-time so a typo is a 400, not a surprising instant.
const BalanceQuery = z
  .strictObject({
    at: z.iso
      .datetime({ offset: true, message: 'must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z' })
      .optional(),
    // A string, so versions beyond 2^53 arrive exactly; at most the store's bigint, so 2^63 is this
    // field's 400, not the store's refusal of an argument the client never named.
    version: z
      .string()
      .regex(/^(0|[1-9][0-9]{0,18})$/, 'must be a non-negative integer')
      .refine((v) => !/^[0-9]+$/.test(v) || BigInt(v) <= MAX_STREAM_VERSION, `must be at most ${MAX_STREAM_VERSION}`)
      .optional(),
  })
  .refine((q) => !(q.at !== undefined && q.version !== undefined), { message: 'give either at or version, not both' })

/** The account routes: open, deposit, withdraw, close, summary, time travel, history. */
export function accountRoutes(deps: AccountRoutesDeps): FastifyPluginAsyncZod {
  const { accounts, readModel, idempotency } = deps
  const { handler } = accounts
  return async (app) => {
    app.post(
      '/accounts',
      {
        schema: {
          tags: ['accounts'],
          summary: 'Open an account',
          body: OpenBody,
          response: { 201: AccountResponse },
        },
      },
      async (request, reply) => {
        await idempotent(idempotency, request, reply, async (key) => {
          // With a key, the id is derived from it so that even a crashed first attempt maps to one account.
          const accountId = key ? deterministicId(`account\u0000${key}`) : randomUUID()
          const result = await handler.handle(
            OpenAccount.create({ accountId, ...request.body }, key ? { idempotencyKey: `open:${key}` } : undefined),
          )
          const state = result.state
          if (state.status === 'none') throw new Error('unreachable: an opened account has a state')
          return {
            status: 201,
            body: {
              accountId,
              owner: state.owner,
              currency: state.currency,
              status: state.status,
              balance: state.balance,
              overdraftLimit: state.overdraftLimit,
              version: result.version.toString(),
            },
          }
        })
      },
    )

    const movement = (kind: 'deposit' | 'withdrawal') =>
      app.post(
        kind === 'deposit' ? '/accounts/:id/deposits' : '/accounts/:id/withdrawals',
        {
          schema: {
            tags: ['accounts'],
            summary: kind === 'deposit' ? 'Deposit money' : 'Withdraw money (within the overdraft limit)',
            params: Params,
            body: MoneyBody,
            response: { 201: MovementResponse },
          },
        },
        async (request, reply) => {
          await idempotent(idempotency, request, reply, async (key) => {
            const data = { accountId: request.params.id, ...request.body }
            const metadata = key ? { idempotencyKey: `${kind}:${key}` } : undefined
            const command =
              kind === 'deposit' ? DepositMoney.create(data, metadata) : WithdrawMoney.create(data, metadata)
            const result = await handler.handle(command)
            const event = result.events[0]
            const state = result.state
            return {
              status: 201,
              body: {
                accountId: request.params.id,
                eventId: event?.eventId ?? '',
                balance: state.status === 'none' ? 0 : state.balance,
                version: result.version.toString(),
                recordedAt: (event?.recordedAt ?? new Date()).toISOString(),
              },
            }
          })
        },
      )
    movement('deposit')
    movement('withdrawal')

    app.post(
      '/accounts/:id/close',
      {
        schema: {
          tags: ['accounts'],
          summary: 'Close an account (only at zero balance)',
          params: Params,
          body: z.strictObject({}).nullish(),
          response: { 200: z.object({ accountId: z.string(), status: z.literal('closed'), version: z.string() }) },
        },
      },
      async (request, reply) => {
        await idempotent(idempotency, request, reply, async (key) => {
          const result = await handler.handle(
            CloseAccount.create({ accountId: request.params.id }, key ? { idempotencyKey: `close:${key}` } : undefined),
          )
          return {
            status: 200,
            body: { accountId: request.params.id, status: 'closed' as const, version: result.version.toString() },
          }
        })
      },
    )

    app.get(
      '/accounts',
      {
        schema: {
          tags: ['accounts'],
          summary: 'List accounts (read model)',
          response: { 200: z.object({ accounts: z.array(Summary) }) },
        },
      },
      async () => ({ accounts: [...(await readModel.list())] }),
    )

    app.get(
      '/accounts/:id',
      {
        schema: {
          tags: ['accounts'],
          summary: 'Current balance and summary (read model, eventually consistent)',
          params: Params,
          response: { 200: Summary.extend({ readModel: z.string() }) },
        },
      },
      async (request) => {
        const summary = await readModel.get(request.params.id)
        if (!summary) {
          throw new DomainError(
            BankErrorCodes.ACCOUNT_NOT_FOUND,
            `Account ${request.params.id} is not in the read model`,
          )
        }
        return { ...summary, readModel: readModel.kind }
      },
    )

    app.get(
      '/accounts/:id/balance',
      {
        schema: {
          tags: ['time travel'],
          summary: 'Balance as of a time (?at=) or a version (?version=), folded from the event store',
          params: Params,
          querystring: BalanceQuery,
          response: {
            200: z.object({
              accountId: z.string(),
              status: z.enum(['none', 'open', 'closed']),
              balance: z.number(),
              currency: z.string().nullable(),
              version: z.string(),
              lastEventAt: z.string().nullable(),
              snapshotVersion: z.string().nullable(),
              eventsFolded: z.number(),
              asOf: z.object({ at: z.string().optional(), version: z.string().optional() }),
            }),
          },
        },
      },
      async (request) => {
        const { at, version } = request.query
        const asOf: AsOf | undefined =
          at !== undefined ? { time: new Date(at) } : version !== undefined ? { version: BigInt(version) } : undefined
        const balance = await accounts.balanceAt(request.params.id, asOf)
        return {
          ...balance,
          asOf: at !== undefined ? { at: new Date(at).toISOString() } : version !== undefined ? { version } : {},
        }
      },
    )

    app.get(
      '/accounts/:id/history',
      {
        schema: {
          tags: ['time travel'],
          summary: 'Every event of the account with its time and the running balance',
          params: Params,
          response: {
            200: z.object({
              accountId: z.string(),
              currency: z.string(),
              entries: z.array(
                z.object({
                  version: z.string(),
                  eventId: z.string(),
                  type: z.string(),
                  recordedAt: z.string(),
                  change: z.number(),
                  balance: z.number(),
                  description: z.string().nullable(),
                  transferId: z.string().nullable(),
                }),
              ),
            }),
          },
        },
      },
      async (request) => accounts.history(request.params.id),
    )
  }
}
