import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BankUnderTest, startBank } from './bank-under-test.js'
import { eventually, openAccount } from './helpers.js'

let bank: BankUnderTest
beforeAll(async () => {
  bank = await startBank('money')
})
afterAll(async () => {
  await bank?.close()
})

type Op =
  | { kind: 'deposit'; account: number; amount: number }
  | { kind: 'withdraw'; account: number; amount: number }
  | { kind: 'transfer'; from: number; to: number; amount: number }

const ACCOUNTS = 4
const LIMITS = [0, 500, 0, 2_000] as const
// Account 2 holds another currency: transfers to or from it are compensated or refused.
const CURRENCIES = ['EUR', 'EUR', 'USD', 'EUR'] as const

const account = fc.integer({ min: 0, max: ACCOUNTS - 1 })
const amount = fc.integer({ min: 1, max: 3_000 })
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('deposit' as const), account, amount }),
  fc.record({ kind: fc.constant('withdraw' as const), account, amount }),
  fc.record({ kind: fc.constant('transfer' as const), from: account, to: account, amount }),
)

describe('money is conserved', () => {
  it('under random concurrent deposits, withdrawals and transfers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        const { app } = bank
        const ids: string[] = []
        for (let i = 0; i < ACCOUNTS; i++) {
          ids.push(await openAccount(app, { owner: `Prop ${i}`, currency: CURRENCIES[i], overdraftLimit: LIMITS[i] }))
        }
        let deposited = 0
        let withdrawn = 0
        // Every operation is sent at once: they race on the same streams, and the command handler
        // must resolve every conflict by reloading, never by losing or duplicating money.
        await Promise.all(
          ops.map(async (o) => {
            if (o.kind === 'transfer') {
              const response = await app.inject({
                method: 'POST',
                url: '/transfers',
                payload: { fromAccountId: ids[o.from], toAccountId: ids[o.to], amount: o.amount },
              })
              expect([201, 422]).toContain(response.statusCode)
              return
            }
            const url = `/accounts/${ids[o.account]}/${o.kind === 'deposit' ? 'deposits' : 'withdrawals'}`
            const response = await app.inject({ method: 'POST', url, payload: { amount: o.amount } })
            expect([201, 409, 422], response.body).toContain(response.statusCode)
            if (response.statusCode === 201) {
              if (o.kind === 'deposit') deposited += o.amount
              else withdrawn += o.amount
            }
          }),
        )
        let total = 0
        for (const [i, id] of ids.entries()) {
          const { balance } = (await app.inject({ url: `/accounts/${id}/balance` })).json() as { balance: number }
          expect(balance).toBeGreaterThanOrEqual(-LIMITS[i as 0 | 1 | 2 | 3])
          total += balance
        }
        expect(total).toBe(deposited - withdrawn)
        // The read model reaches the same balances as the event store.
        await eventually(async () => {
          for (const id of ids) {
            const summary = (await app.inject({ url: `/accounts/${id}` })).json() as { balance: number }
            const store = (await app.inject({ url: `/accounts/${id}/balance` })).json() as { balance: number }
            expect(summary.balance).toBe(store.balance)
          }
        })
      }),
      { numRuns: 25 },
    )
  })
})
