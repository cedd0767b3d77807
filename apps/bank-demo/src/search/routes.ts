import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { Text } from '../accounts/account.js'
import type { BankSearch } from '../read-models/read-model.js'

const Query = z.strictObject({
  q: Text(200),
  limit: z.coerce.number().int().min(1).max(100).default(20),
})

/** A search answer: which engine answered, and the hits. */
const searchResult = <Hit extends z.ZodType>(hit: Hit) => z.object({ engine: z.string(), hits: z.array(hit) })

/** The search routes over the search read models (Elasticsearch, or memory in zero-setup mode). */
export function searchRoutes(deps: { search: BankSearch }): FastifyPluginAsyncZod {
  const { search } = deps
  return async (app) => {
    app.get(
      '/search/accounts',
      {
        schema: {
          tags: ['search'],
          summary: 'Search accounts by owner, id or currency',
          querystring: Query,
          response: {
            200: searchResult(
              z.object({
                accountId: z.string(),
                owner: z.string(),
                currency: z.string(),
                status: z.enum(['open', 'closed']),
                balance: z.number(),
              }),
            ),
          },
        },
      },
      async (request) => ({
        engine: search.kind,
        hits: [...(await search.accounts(request.query.q, request.query.limit))],
      }),
    )
    app.get(
      '/search/transactions',
      {
        schema: {
          tags: ['search'],
          summary: 'Search deposits and withdrawals by owner, description or transfer id',
          querystring: Query,
          response: {
            200: searchResult(
              z.object({
                eventId: z.string(),
                accountId: z.string(),
                owner: z.string(),
                currency: z.string(),
                kind: z.enum(['deposit', 'withdrawal']),
                amount: z.number(),
                description: z.string().nullable(),
                transferId: z.string().nullable(),
                recordedAt: z.string(),
              }),
            ),
          },
        },
      },
      async (request) => ({
        engine: search.kind,
        hits: [...(await search.transactions(request.query.q, request.query.limit))],
      }),
    )
  }
}
