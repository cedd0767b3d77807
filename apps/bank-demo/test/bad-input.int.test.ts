import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BankUnderTest, startBank } from './bank-under-test.js'
import { expectProblem, openAccount } from './helpers.js'

let bank: BankUnderTest
let accountId: string
let otherId: string
beforeAll(async () => {
  bank = await startBank('bad-input')
  accountId = await openAccount(bank.app, { owner: 'Target', currency: 'EUR' })
  otherId = await openAccount(bank.app, { owner: 'Other', currency: 'EUR' })
  await bank.app.inject({ method: 'POST', url: `/accounts/${accountId}/deposits`, payload: { amount: 1_000 } })
})
afterAll(async () => {
  await bank?.close()
})

/** Sends a raw body (so NaN, invalid JSON and huge numbers reach the server as typed). */
const raw = (url: string, body: string, contentType = 'application/json') =>
  bank.app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': contentType } })

const AMOUNTS: readonly [string, string][] = [
  ['negative', '-5'],
  ['zero', '0'],
  ['float', '1.5'],
  ['NaN', 'NaN'],
  ['NaN as a string', '"NaN"'],
  ['Infinity', '1e999'],
  ['beyond 2^53', '9007199254740993'],
  ['2^53', '9007199254740992'],
  ['huge', '1e300'],
  ['a string', '"100"'],
  ['null', 'null'],
  ['an object', '{"value":1}'],
  ['an array', '[1]'],
  ['a boolean', 'true'],
]

describe('bad input is a 4xx problem+json and appends nothing', () => {
  for (const kind of ['deposits', 'withdrawals'] as const) {
    for (const [name, amount] of AMOUNTS) {
      it(`${kind}: amount ${name}`, async () => {
        const before = await bank.countEvents()
        const response = await raw(`/accounts/${accountId}/${kind}`, `{"amount":${amount}}`)
        const problem = expectProblem(response, 400)
        if (problem.errors) expect(problem.errors.map((e) => e.field)).toContain('body.amount')
        expect(await bank.countEvents()).toBe(before)
      })
    }
  }

  it('transfers: every bad amount', async () => {
    const before = await bank.countEvents()
    for (const [, amount] of AMOUNTS) {
      const response = await raw(
        '/transfers',
        `{"fromAccountId":"${accountId}","toAccountId":"${otherId}","amount":${amount}}`,
      )
      expectProblem(response, 400)
    }
    expect(await bank.countEvents()).toBe(before)
  })

  const cases: readonly [string, () => Promise<import('fastify').LightMyRequestResponse>, number, string?][] = [
    ['an unknown field', () => raw(`/accounts/${accountId}/deposits`, '{"amount":5,"admin":true}'), 400, 'body.admin'],
    ['a missing field', () => raw(`/accounts/${accountId}/deposits`, '{}'), 400, 'body.amount'],
    ['NUL in a name', () => raw('/accounts', '{"owner":"Eve\\u0000","currency":"EUR"}'), 400, 'body.owner'],
    [
      'NUL in a description',
      () => raw(`/accounts/${accountId}/deposits`, '{"amount":5,"description":"a\\u0000b"}'),
      400,
      'body.description',
    ],
    [
      'a very long name',
      () => raw('/accounts', JSON.stringify({ owner: 'x'.repeat(5_000), currency: 'EUR' })),
      400,
      'body.owner',
    ],
    ['an empty name', () => raw('/accounts', '{"owner":"   ","currency":"EUR"}'), 400, 'body.owner'],
    ['a bad currency', () => raw('/accounts', '{"owner":"Eve","currency":"euro"}'), 400, 'body.currency'],
    [
      'a negative overdraft',
      () => raw('/accounts', '{"owner":"Eve","currency":"EUR","overdraftLimit":-1}'),
      400,
      'body.overdraftLimit',
    ],
    [
      'an unknown field on open',
      () => raw('/accounts', '{"owner":"Eve","currency":"EUR","balance":1000000}'),
      400,
      'body.balance',
    ],
    [
      'an oversized body',
      () => raw(`/accounts/${accountId}/deposits`, JSON.stringify({ amount: 5, description: 'x'.repeat(100_000) })),
      413,
    ],
    ['invalid JSON', () => raw(`/accounts/${accountId}/deposits`, '{"amount":'), 400],
    ['an empty JSON body', () => raw(`/accounts/${accountId}/deposits`, ''), 400],
    ['a JSON array', () => raw(`/accounts/${accountId}/deposits`, '[{"amount":5}]'), 400],
    ['a JSON string', () => raw(`/accounts/${accountId}/deposits`, '"5"'), 400],
    [
      'a prototype pollution attempt',
      () => raw(`/accounts/${accountId}/deposits`, '{"amount":5,"__proto__":{"x":1}}'),
      400,
    ],
    ['a form body', () => raw(`/accounts/${accountId}/deposits`, 'amount=5', 'application/x-www-form-urlencoded'), 415],
    ['a malformed account id', () => raw('/accounts/not-a-uuid/deposits', '{"amount":5}'), 400, 'params.id'],
    [
      'a transfer with an unknown field',
      () => raw('/transfers', `{"fromAccountId":"${accountId}","toAccountId":"${otherId}","amount":5,"fee":1}`),
      400,
      'body.fee',
    ],
    [
      'a transfer with a malformed id',
      () => raw('/transfers', `{"fromAccountId":"${accountId}","toAccountId":"nope","amount":5}`),
      400,
      'body.toAccountId',
    ],
    ['a close with a body', () => raw(`/accounts/${otherId}/close`, '{"force":true}'), 400, 'body.force'],
  ]
  for (const [name, send, status, field] of cases) {
    it(name, async () => {
      const before = await bank.countEvents()
      const problem = expectProblem(await send(), status)
      if (field) expect(problem.errors?.map((e) => e.field)).toContain(field)
      expect(await bank.countEvents()).toBe(before)
    })
  }

  it('the account is untouched by all of the above', async () => {
    const balance = (await bank.app.inject({ url: `/accounts/${accountId}/balance` })).json()
    expect(balance).toMatchObject({ balance: 1_000, version: '2' })
  })
})
