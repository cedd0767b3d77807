import { CoreErrorCodes, fingerprint, type IdempotencyStore, isAnnalsError } from '@annals/core'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { problem, sendProblem, toProblem } from './error-handler.js'

/** What a route handler produced, in a form the idempotency store can keep and replay. */
export type HttpResult = Readonly<{ status: number; body: unknown; problem?: boolean }>

const KEY = /^[\x21-\x7e]{1,200}$/

// Outcomes that are final for the request are stored with the key (a replay gives them again);
// conflicts and server errors are not, so the client may retry them under the same key.
const STORED_PROBLEMS = new Set([400, 404, 422])

/**
 * Runs a POST handler under the `Idempotency-Key` header, through core's IdempotencyStore port:
 * the same key with the same request returns the first response again (marked with
 * `Idempotent-Replayed: true`) and runs nothing; the same key with another request is a 422.
 */
export async function idempotent(
  store: IdempotencyStore,
  request: FastifyRequest,
  reply: FastifyReply,
  work: (key: string | undefined) => Promise<HttpResult>,
): Promise<FastifyReply> {
  const header = request.headers['idempotency-key']
  if (header === undefined) return send(reply, await work(undefined), false)
  if (typeof header !== 'string' || !KEY.test(header)) {
    return sendProblem(
      reply,
      problem(400, 'BANK_INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 200 visible ASCII characters', [
        { field: 'headers.idempotency-key', message: 'must be 1 to 200 visible ASCII characters' },
      ]),
    )
  }
  const print = fingerprint({ method: request.method, url: request.url, body: request.body ?? null })
  let outcome: Readonly<{ result: HttpResult; replayed: boolean }>
  try {
    outcome = await store.execute<HttpResult>(`http:${header}`, print, async () => {
      try {
        return await work(header)
      } catch (error) {
        const body = toProblem(error)
        if (!STORED_PROBLEMS.has(body.status)) throw error
        return { status: body.status, body, problem: true }
      }
    })
  } catch (error) {
    if (!isAnnalsError(error, CoreErrorCodes.IDEMPOTENCY_KEY_REUSED)) throw error
    return sendProblem(
      reply,
      problem(
        422,
        CoreErrorCodes.IDEMPOTENCY_KEY_REUSED,
        'This Idempotency-Key was already used with another request; use a new key for a new request',
      ),
    )
  }
  return send(reply, outcome.result, outcome.replayed)
}

function send(reply: FastifyReply, result: HttpResult, replayed: boolean): FastifyReply {
  if (replayed) reply.header('idempotent-replayed', 'true')
  if (result.problem) reply.type('application/problem+json; charset=utf-8')
  return reply.code(result.status).send(result.body)
}
