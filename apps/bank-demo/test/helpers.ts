import { type EventStore, LOG_START, type LogCheckpoint } from '@annals/core'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { expect } from 'vitest'

/** Every event in the store (the whole global log), to check that nothing was appended. */
export async function countEvents(store: EventStore): Promise<number> {
  let after: LogCheckpoint = LOG_START
  let count = 0
  for (;;) {
    const batch = await store.readAll({ after, limit: 1000 })
    count += batch.events.length
    after = batch.checkpoint
    if (batch.caughtUp || batch.events.length === 0) return count
  }
}

/** Asserts an RFC 9457 problem response with this status (and code, when given). */
export function expectProblem(response: LightMyRequestResponse, status: number, code?: string) {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = response.json() as { status: number; code: string; title: string; type: string; detail: string }
  expect(body.status).toBe(status)
  expect(body.type).toMatch(/^https:\/\/annals\.dev\/problems\//)
  if (code) expect(body.code).toBe(code)
  return body as typeof body & { errors?: { field: string; message: string }[] }
}

/** Opens an account through the API and returns its id. */
export async function openAccount(
  app: FastifyInstance,
  body: Record<string, unknown> = { owner: 'Test Owner', currency: 'EUR' },
): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/accounts', payload: body })
  expect(response.statusCode, response.body).toBe(201)
  return (response.json() as { accountId: string }).accountId
}

/** POSTs a deposit or withdrawal. */
export function move(app: FastifyInstance, kind: 'deposits' | 'withdrawals', accountId: string, amount: number) {
  return app.inject({ method: 'POST', url: `/accounts/${accountId}/${kind}`, payload: { amount } })
}

/** Polls until `check` stops throwing (read models are eventually consistent). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}
