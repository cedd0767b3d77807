import { findUnstorableText, isAnnalsError, isValidationError } from '@annals/core'
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'

/** One invalid field of a request, in a 400 problem. */
export type FieldProblem = Readonly<{ field: string; message: string }>

/** An RFC 9457 problem document, as every error response of the demo carries it. */
export type Problem = Readonly<{
  type: string
  title: string
  status: number
  detail: string
  /** The stable code the client branches on (an Annals, bank or HTTP-layer code). */
  code: string
  errors?: readonly FieldProblem[]
}>

/** The problem `type` URI base; the code is appended. */
export const PROBLEM_BASE = 'https://annals.dev/problems/'

/**
 * Maps error codes to HTTP statuses. Domain and core errors carry no status (the core has no HTTP):
 * this table is the only place where a code becomes one.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  ANNALS_ERR_VALIDATION: 400,
  ANNALS_ERR_INVALID_ARGUMENT: 400,
  ANNALS_ERR_STREAM_NOT_FOUND: 404,
  BANK_ACCOUNT_NOT_FOUND: 404,
  BANK_TRANSFER_NOT_FOUND: 404,
  ANNALS_ERR_CONCURRENCY: 409,
  ANNALS_ERR_RETRIES_EXHAUSTED: 409,
  ANNALS_ERR_STREAM_ALREADY_EXISTS: 409,
  BANK_ACCOUNT_EXISTS: 409,
  ANNALS_ERR_IDEMPOTENCY_KEY_REUSED: 422,
  BANK_ACCOUNT_CLOSED: 422,
  BANK_INSUFFICIENT_FUNDS: 422,
  BANK_CURRENCY_MISMATCH: 422,
  BANK_BALANCE_NOT_ZERO: 422,
  BANK_BALANCE_OVERFLOW: 422,
  BANK_SAME_ACCOUNT: 422,
}

/** The HTTP status of an error code, or undefined for a code this edge does not know (a 500). */
export function statusOfCode(code: string): number | undefined {
  return STATUS_BY_CODE[code]
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
}

/** Builds a problem document. */
export function problem(status: number, code: string, detail: string, errors?: readonly FieldProblem[]): Problem {
  return {
    type: `${PROBLEM_BASE}${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...(errors && errors.length > 0 ? { errors } : {}),
  }
}

/** Sends a problem as `application/problem+json`. */
export function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  return reply.code(body.status).type('application/problem+json; charset=utf-8').send(body)
}

const fieldPath = (prefix: string, path: readonly (string | number | symbol)[]) =>
  [prefix, ...path.map(String)].filter((part) => part.length > 0).join('.')

/** Translates any thrown error into a problem document (status, code, fields). */
export function toProblem(error: unknown): Problem {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const context = (error as { validationContext?: string }).validationContext ?? 'body'
    const errors = error.validation.map((issue) => {
      const path = issue.instancePath.split('/').filter((part) => part.length > 0)
      // An unknown key is reported on its parent; name the key itself so the client sees the field.
      const keys = issue.keyword === 'unrecognized_keys' ? ((issue.params as { keys?: string[] }).keys ?? []) : []
      const field =
        keys.length > 0 ? keys.map((k) => fieldPath(context, [...path, k])).join(', ') : fieldPath(context, path)
      return { field, message: issue.message ?? 'is invalid' }
    })
    return problem(400, 'BANK_INVALID_REQUEST', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors)
  }
  if (isValidationError(error)) {
    const errors = error.issues.map((issue) => ({
      field: fieldPath('', issue.path) || '(root)',
      message: issue.message,
    }))
    return problem(400, error.code, error.message, errors)
  }
  if (isAnnalsError(error) || isBankError(error)) {
    const code = (error as { code: string }).code
    const status = STATUS_BY_CODE[code]
    if (status !== undefined) return problem(status, code, (error as Error).message)
  }
  const fastifyError = error as Partial<FastifyError>
  if (typeof fastifyError.code === 'string' && fastifyError.code.startsWith('FST_')) {
    const status = fastifyError.statusCode ?? 500
    if (status < 500) return problem(status, fastifyError.code, fastifyError.message ?? 'Bad request')
  }
  if (error instanceof SyntaxError && (error as { statusCode?: number }).statusCode === 400) {
    return problem(400, 'FST_ERR_CTP_INVALID_JSON_BODY', 'The body is not valid JSON')
  }
  return problem(500, 'BANK_INTERNAL', 'An unexpected error occurred; it was logged')
}

function isBankError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('BANK_')
}

/** Installs the problem+json error and not-found handlers on a fastify instance. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const body = toProblem(error)
    if (body.status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ code: body.code, status: body.status }, 'request rejected')
    return sendProblem(reply, body)
  })
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problem(404, 'BANK_ROUTE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)),
  )
}

/**
 * Refuses, before validation and before any handler runs, a request whose params, query or body holds
 * text no store can keep (U+0000, a lone surrogate such as a JSON `"\ud800"`): a 400 naming the field
 * as the client sent it (`body.owner`), instead of the store's path deep inside an event.
 */
export function refuseUnstorableText(app: FastifyInstance): void {
  app.addHook('preValidation', async (request, reply) => {
    for (const [part, value] of [
      ['params', request.params],
      ['querystring', request.query],
      ['body', request.body],
    ] as const) {
      const found = findUnstorableText(value, [part])
      if (!found) continue
      const field = fieldPath('', found.path)
      request.log.info({ code: 'BANK_INVALID_REQUEST', field }, 'request rejected: text a store cannot keep')
      return sendProblem(
        reply,
        problem(400, 'BANK_INVALID_REQUEST', `${field}: ${found.message}`, [{ field, message: found.message }]),
      )
    }
  })
}
