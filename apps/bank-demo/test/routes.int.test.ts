import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TRANSACTIONS_TOPIC } from '../src/postgres-write-side.js'
import { type BankUnderTest, startBank } from './bank-under-test.js'
import { eventually, expectProblem, move, openAccount } from './helpers.js'

let bank: BankUnderTest
beforeAll(async () => {
  bank = await startBank('routes')
})
afterAll(async () => {
  await bank?.close()
})

describe('accounts', () => {
  it('opens, deposits, withdraws and closes an account', async () => {
    const { app } = bank
    const opened = await app.inject({
      method: 'POST',
      url: '/accounts',
      payload: { owner: 'Ada Lovelace', currency: 'EUR', overdraftLimit: 500 },
    })
    expect(opened.statusCode).toBe(201)
    const account = opened.json()
    expect(account).toMatchObject({
      owner: 'Ada Lovelace',
      currency: 'EUR',
      balance: 0,
      overdraftLimit: 500,
      version: '1',
    })
    const id = account.accountId as string

    const deposit = await move(app, 'deposits', id, 1_000)
    expect(deposit.statusCode).toBe(201)
    expect(deposit.json()).toMatchObject({ balance: 1_000, version: '2' })
    const withdrawal = await move(app, 'withdrawals', id, 1_400)
    expect(withdrawal.json()).toMatchObject({ balance: -400, version: '3' })
    expectProblem(await move(app, 'withdrawals', id, 101), 422, 'BANK_INSUFFICIENT_FUNDS')
    expectProblem(
      await app.inject({ method: 'POST', url: `/accounts/${id}/close`, payload: {} }),
      422,
      'BANK_BALANCE_NOT_ZERO',
    )
    await move(app, 'deposits', id, 400)
    const closed = await app.inject({ method: 'POST', url: `/accounts/${id}/close` })
    expect(closed.statusCode).toBe(200)
    expect(closed.json()).toEqual({ accountId: id, status: 'closed', version: '5' })
    expectProblem(await move(app, 'deposits', id, 1), 422, 'BANK_ACCOUNT_CLOSED')

    const summary = await eventually(async () => {
      const response = await app.inject({ url: `/accounts/${id}` })
      expect(response.statusCode).toBe(200)
      expect(response.json().version).toBe('5')
      return response.json()
    })
    expect(summary).toMatchObject({ owner: 'Ada Lovelace', status: 'closed', balance: 0, transactions: 3 })
    expect(summary.readModel).toBe(process.env.BANK_TEST_MODE === 'memory' ? 'memory' : 'redis')
    const list = await app.inject({ url: '/accounts' })
    expect(list.json().accounts.map((a: { accountId: string }) => a.accountId)).toContain(id)
  })

  it('answers 404 problems for unknown accounts and routes', async () => {
    const { app } = bank
    const unknown = '00000000-0000-4000-8000-000000000000'
    expectProblem(await move(app, 'deposits', unknown, 5), 404, 'BANK_ACCOUNT_NOT_FOUND')
    expectProblem(await app.inject({ url: `/accounts/${unknown}` }), 404, 'BANK_ACCOUNT_NOT_FOUND')
    expectProblem(await app.inject({ url: `/accounts/${unknown}/history` }), 404, 'BANK_ACCOUNT_NOT_FOUND')
    expectProblem(await app.inject({ url: `/accounts/${unknown}/balance` }), 404, 'BANK_ACCOUNT_NOT_FOUND')
    expectProblem(await app.inject({ url: `/transfers/${unknown}` }), 404, 'BANK_TRANSFER_NOT_FOUND')
    expectProblem(await app.inject({ url: '/nowhere' }), 404, 'BANK_ROUTE_NOT_FOUND')
  })
})

describe('time travel', () => {
  it('gives, at every version and at every event time, the running balance of the history', async () => {
    const { app } = bank
    const id = await openAccount(app, { owner: 'Time Traveller', currency: 'EUR', overdraftLimit: 10_000 })
    // More than one snapshot interval, so some reads start from a snapshot.
    const amounts = [500, -200, 1_000, -5_000, 300, 250, -50, 700, 1, -999, 4_000, -10, 12, 90, -3_000]
    for (const amount of amounts) {
      const response = await move(app, amount > 0 ? 'deposits' : 'withdrawals', id, Math.abs(amount))
      expect(response.statusCode, response.body).toBe(201)
    }
    const history = (await app.inject({ url: `/accounts/${id}/history` })).json() as {
      entries: { version: string; recordedAt: string; balance: number; change: number }[]
    }
    expect(history.entries).toHaveLength(amounts.length + 1)
    expect(history.entries.at(-1)?.balance).toBe(amounts.reduce((a, b) => a + b, 0))
    let usedSnapshot = false
    for (const [index, entry] of history.entries.entries()) {
      const byVersion = (await app.inject({ url: `/accounts/${id}/balance?version=${entry.version}` })).json()
      expect(byVersion.balance).toBe(entry.balance)
      expect(byVersion.version).toBe(entry.version)
      usedSnapshot ||= byVersion.snapshotVersion !== null
      // Several events may share a timestamp; the balance at that time is the last one's.
      const lastAtSameTime = history.entries.filter((e) => e.recordedAt === entry.recordedAt).at(-1)
      const byTime = (
        await app.inject({ url: `/accounts/${id}/balance?at=${encodeURIComponent(entry.recordedAt)}` })
      ).json()
      expect(byTime.balance, `at ${entry.recordedAt} (entry ${index})`).toBe(lastAtSameTime?.balance)
    }
    expect(usedSnapshot).toBe(true)
    const before = (await app.inject({ url: `/accounts/${id}/balance?at=2000-01-01T00:00:00Z` })).json()
    expect(before).toMatchObject({ status: 'none', balance: 0, version: '0' })
    const now = (await app.inject({ url: `/accounts/${id}/balance` })).json()
    expect(now.balance).toBe(history.entries.at(-1)?.balance)
  })

  it('rejects malformed time-travel queries with 400', async () => {
    const { app } = bank
    const id = await openAccount(app)
    for (const query of [
      'at=yesterday',
      'at=2026-13-01T00:00:00Z',
      'version=-1',
      'version=1.5',
      'version=abc',
      'at=2026-01-01T00:00:00Z&version=2',
      'x=1',
    ]) {
      expectProblem(await app.inject({ url: `/accounts/${id}/balance?${query}` }), 400)
    }
  })
})

describe('transfers', () => {
  it('completes a transfer through the saga and reports its steps', async () => {
    const { app } = bank
    const from = await openAccount(app, { owner: 'Payer', currency: 'EUR' })
    const to = await openAccount(app, { owner: 'Payee', currency: 'EUR' })
    await move(app, 'deposits', from, 1_000)
    const response = await app.inject({
      method: 'POST',
      url: '/transfers',
      payload: { fromAccountId: from, toAccountId: to, amount: 600, description: 'Rent share' },
    })
    expect(response.statusCode, response.body).toBe(201)
    const transfer = response.json()
    expect(transfer.status).toBe('completed')
    expect(transfer.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
      'debit-source:done',
      'credit-target:done',
    ])
    const fetched = await app.inject({ url: `/transfers/${transfer.transferId}` })
    expect(fetched.json()).toEqual(transfer)
    expect((await app.inject({ url: `/accounts/${from}/balance` })).json().balance).toBe(400)
    expect((await app.inject({ url: `/accounts/${to}/balance` })).json().balance).toBe(600)
  })

  it('refunds the source when the credit fails (closed target, currency mismatch)', async () => {
    const { app } = bank
    const from = await openAccount(app, { owner: 'Refunded', currency: 'EUR' })
    const dollars = await openAccount(app, { owner: 'Dollar account', currency: 'USD' })
    const closed = await openAccount(app, { owner: 'Closed account', currency: 'EUR' })
    await app.inject({ method: 'POST', url: `/accounts/${closed}/close` })
    await move(app, 'deposits', from, 1_000)
    for (const [target, code] of [
      [dollars, 'BANK_CURRENCY_MISMATCH'],
      [closed, 'BANK_ACCOUNT_CLOSED'],
    ] as const) {
      const response = await app.inject({
        method: 'POST',
        url: '/transfers',
        payload: { fromAccountId: from, toAccountId: target, amount: 300 },
      })
      const problem = expectProblem(response, 422, code) as unknown as { transferId: string }
      const saga = (await app.inject({ url: `/transfers/${problem.transferId}` })).json()
      expect(saga.status).toBe('compensated')
      expect(saga.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
        'debit-source:done',
        'credit-target:failed',
        'refund-source:done',
      ])
    }
    expect((await app.inject({ url: `/accounts/${from}/balance` })).json().balance).toBe(1_000)
    expect((await app.inject({ url: `/accounts/${dollars}/balance` })).json().balance).toBe(0)
    const history = (await app.inject({ url: `/accounts/${from}/history` })).json()
    expect(history.entries.map((e: { change: number }) => e.change)).toEqual([0, 1_000, -300, 300, -300, 300])
  })

  it('refuses a transfer the source cannot pay, without moving money', async () => {
    const { app } = bank
    const from = await openAccount(app, { owner: 'Broke', currency: 'EUR' })
    const to = await openAccount(app, { owner: 'Hopeful', currency: 'EUR' })
    const response = await app.inject({
      method: 'POST',
      url: '/transfers',
      payload: { fromAccountId: from, toAccountId: to, amount: 1 },
    })
    const problem = expectProblem(response, 422, 'BANK_INSUFFICIENT_FUNDS') as unknown as { transferId: string }
    expect((await app.inject({ url: `/transfers/${problem.transferId}` })).json().status).toBe('failed')
    expectProblem(
      await app.inject({
        method: 'POST',
        url: '/transfers',
        payload: { fromAccountId: from, toAccountId: from, amount: 1 },
      }),
      422,
      'BANK_SAME_ACCOUNT',
    )
  })
})

describe('idempotency keys', () => {
  it('replays the first response for the same key and body, appending nothing', async () => {
    const { app } = bank
    const id = await openAccount(app)
    const request = {
      method: 'POST' as const,
      url: `/accounts/${id}/deposits`,
      payload: { amount: 250 },
      headers: { 'idempotency-key': `dep-${id}` },
    }
    const first = await app.inject(request)
    expect(first.statusCode).toBe(201)
    const events = await bank.countEvents()
    const second = await app.inject(request)
    expect(second.statusCode).toBe(201)
    expect(second.json()).toEqual(first.json())
    expect(second.headers['idempotent-replayed']).toBe('true')
    expect(await bank.countEvents()).toBe(events)
    expect((await app.inject({ url: `/accounts/${id}/balance` })).json().balance).toBe(250)

    const other = await app.inject({ ...request, payload: { amount: 251 } })
    expectProblem(other, 422, 'ANNALS_ERR_IDEMPOTENCY_KEY_REUSED')
    expect(await bank.countEvents()).toBe(events)
  })

  it('opens one account and runs one transfer per key', async () => {
    const { app } = bank
    const open = { method: 'POST' as const, url: '/accounts', payload: { owner: 'Keyed', currency: 'EUR' } }
    const key = `open-${Date.now()}`
    const a = await app.inject({ ...open, headers: { 'idempotency-key': key } })
    const b = await app.inject({ ...open, headers: { 'idempotency-key': key } })
    expect(b.json().accountId).toBe(a.json().accountId)
    const to = await openAccount(app)
    await move(app, 'deposits', a.json().accountId, 100)
    const transfer = {
      method: 'POST' as const,
      url: '/transfers',
      payload: { fromAccountId: a.json().accountId, toAccountId: to, amount: 60 },
      headers: { 'idempotency-key': `transfer-${to}` },
    }
    const t1 = await app.inject(transfer)
    const events = await bank.countEvents()
    const t2 = await app.inject(transfer)
    expect(t2.json()).toEqual(t1.json())
    expect(await bank.countEvents()).toBe(events)
    // A refused transfer is a final answer too: the same key gives the same 422, nothing re-runs.
    const refused = { ...transfer, headers: { 'idempotency-key': `refused-${to}` } }
    const r1 = await app.inject(refused)
    expectProblem(r1, 422, 'BANK_INSUFFICIENT_FUNDS')
    const after = await bank.countEvents()
    const r2 = await app.inject(refused)
    expect(r2.json()).toEqual(r1.json())
    expect(await bank.countEvents()).toBe(after)
    expectProblem(
      await app.inject({ ...transfer, headers: { 'idempotency-key': 'x'.repeat(201) } }),
      400,
      'BANK_INVALID_IDEMPOTENCY_KEY',
    )
  })
})

describe('search', () => {
  it('finds accounts by owner and transactions by description', async () => {
    const { app } = bank
    const id = await openAccount(app, { owner: 'Searchable Hypatia', currency: 'EUR' })
    await app.inject({
      method: 'POST',
      url: `/accounts/${id}/deposits`,
      payload: { amount: 77, description: 'Papyrus refund' },
    })
    const accounts = await eventually(async () => {
      const response = await app.inject({ url: '/search/accounts?q=hypatia' })
      expect(response.statusCode).toBe(200)
      expect(response.json().hits).toHaveLength(1)
      return response.json()
    })
    expect(accounts.hits[0]).toMatchObject({ accountId: id, owner: 'Searchable Hypatia' })
    expect(accounts.engine).toBe(
      process.env.ELASTICSEARCH_URL && process.env.BANK_TEST_MODE !== 'memory' ? 'elasticsearch' : 'memory',
    )
    const tx = await eventually(async () => {
      const response = await app.inject({ url: '/search/transactions?q=papyrus' })
      expect(response.json().hits).toHaveLength(1)
      return response.json()
    })
    expect(tx.hits[0]).toMatchObject({ accountId: id, amount: 77, kind: 'deposit' })
    expectProblem(await app.inject({ url: '/search/accounts' }), 400)
    expectProblem(await app.inject({ url: `/search/accounts?q=${'a'.repeat(201)}` }), 400)
  })
})

describe('outbox', () => {
  it.skipIf(process.env.BANK_TEST_MODE === 'memory')(
    'publishes every deposit and withdrawal to the Redis stream through the transactional outbox',
    async () => {
      const { app } = bank
      const id = await openAccount(app)
      await move(app, 'deposits', id, 321)
      await move(app, 'withdrawals', id, 21)
      const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379')
      try {
        const key = `${bank.redisKeyPrefix}outbox:${TRANSACTIONS_TOPIC}`
        const mine = await eventually(async () => {
          const entries = await redis.xrange(key, '-', '+')
          const found = entries
            .map(([, fields]) => Object.fromEntries(chunk(fields)))
            .filter((f) => typeof f.payload === 'string' && JSON.parse(f.payload).accountId === id)
          expect(found).toHaveLength(2)
          return found
        })
        expect(mine.map((f) => [f.type, JSON.parse(f.payload as string).amount])).toEqual([
          ['bank.deposit', 321],
          ['bank.withdrawal', 21],
        ])
      } finally {
        await redis.quit()
      }
    },
  )
})

const chunk = (fields: string[]) => {
  const pairs: [string, string][] = []
  for (let i = 0; i + 1 < fields.length; i += 2) pairs.push([fields[i] as string, fields[i + 1] as string])
  return pairs
}

describe('OpenAPI', () => {
  it('documents every route from the zod schemas', async () => {
    const response = await bank.app.inject({ url: '/docs/json' })
    expect(response.statusCode).toBe(200)
    const doc = response.json()
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/accounts',
        '/accounts/{id}',
        '/accounts/{id}/deposits',
        '/accounts/{id}/withdrawals',
        '/accounts/{id}/close',
        '/accounts/{id}/balance',
        '/accounts/{id}/history',
        '/transfers',
        '/transfers/{id}',
        '/search/accounts',
        '/search/transactions',
      ]),
    )
    expect(
      doc.paths['/accounts/{id}/deposits'].post.requestBody.content['application/json'].schema.properties.amount,
    ).toBeDefined()
    expect((await bank.app.inject({ url: '/docs' })).statusCode).toBeLessThan(400)
  })
})
