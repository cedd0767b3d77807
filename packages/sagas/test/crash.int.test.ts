import { waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { transferWithReceipt } from '../examples/bank-transfer.js'
import { getSaga } from '../src/postgres/saga-admin.js'
import { startSaga } from '../src/postgres/start-saga.js'
import { createWorld, settled, spawnWorker, useTestDatabase } from './helpers.js'

const db = useTestDatabase()

/**
 * Boundaries of the three-step saga (debit, credit, irreversible receipt), counted by the engine's hook:
 * after each record appended to the saga stream and after each command ran (before its outcome is
 * recorded). Completing: 3 x (issued, executed, succeeded) + completed = 10. Compensating (the receipt
 * is refused): 2 x 3 + (issued, executed, failed) + 2 x (compensation issued, executed, compensated)
 * + compensated = 16.
 */
const paths = [
  {
    name: 'completing',
    mailbox: 'ann',
    boundaries: 10,
    status: 'completed',
    a: ['AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn'],
    b: ['AccountOpened', 'MoneyDeposited'],
    mail: ['ReceiptSent'],
    balances: [70, 30],
  },
  {
    name: 'compensating',
    mailbox: 'blocked',
    boundaries: 16,
    status: 'compensated',
    a: ['AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn', 'MoneyDeposited'],
    b: ['AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn'],
    mail: ['MailboxBlocked'],
    balances: [100, 0],
  },
] as const

/** Runs `tasks` with at most `limit` at once. */
async function inParallel<T>(limit: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) {
        const index = next++
        results[index] = await (tasks[index] as () => Promise<T>)()
      }
    }),
  )
  return results
}

describe('kill -9 at every step boundary of a three-step saga', () => {
  it('ends completed or fully compensated after a restart, each command executed once', async () => {
    const runs = paths.flatMap((path) =>
      // One run past the last boundary proves there are no more boundaries than counted.
      Array.from({ length: path.boundaries + 1 }, (_, i) => ({ path, crashAt: i + 1 })),
    )
    const outcomes = await inParallel(
      4,
      runs.map(({ path, crashAt }) => async () => {
        const schema = `crash_${path.name}_${crashAt}`
        const world = await createWorld(db.pool, schema)
        await world.open('a', 'EUR', 100)
        await world.open('b', 'EUR', 0)
        if (path.mailbox === 'blocked')
          await world.mailboxes.handle({ type: 'BlockMailbox', data: { mailbox: 'blocked' } })
        const input = { transferId: 't', from: 'a', to: 'b', amount: 30, currency: 'EUR', mailbox: path.mailbox }
        await startSaga({ pool: db.pool, store: world.store, schema }, transferWithReceipt, input)
        const env = { DATABASE_URL: db.url, SCHEMA: schema }
        const first = spawnWorker({ ...env, CRASH_SAGA: 't', CRASH_AT: String(crashAt) })
        // Stop at whichever comes first (polling both, so nothing keeps running after the test).
        let exit: { signal: NodeJS.Signals | null } | null = null
        void first.exited.then((e) => {
          exit = e
        })
        const crashed = await waitFor(
          'the worker to crash or the saga to end',
          async () => {
            if (exit) return exit.signal === 'SIGKILL' ? 'crashed' : 'exited'
            const s = await world.status('transfer-with-receipt', 't')
            return s === 'completed' || s === 'compensated' || s === 'failed' ? 'ended' : null
          },
          { timeoutMs: 120_000, everyMs: 50 },
        ).then((how) => how === 'crashed')
        await first.kill()
        const firstOutput = first.output()
        const second = spawnWorker(env)
        const status = await settled(world, 'transfer-with-receipt', 't', second, 120_000)
        await second.kill()
        return { path, crashAt, crashed, status, world, firstOutput }
      }),
    )
    for (const { path, crashAt, crashed, status, world, firstOutput } of outcomes) {
      const label = `${path.name} path, crash at boundary ${crashAt}`
      expect(crashed, `${label}\n${firstOutput}`).toBe(crashAt <= path.boundaries)
      expect(status, label).toBe(path.status)
      // Each command took effect exactly once (a second debit or credit would add an event).
      expect(await world.types('account-a'), label).toEqual(path.a)
      expect(await world.types('account-b'), label).toEqual(path.b)
      expect(await world.types(`mailbox-${path.mailbox}`), label).toEqual(path.mail)
      expect([await world.balance('a'), await world.balance('b')], label).toEqual(path.balances)
      // No step issued twice, none skipped.
      const { history, state } = await getSaga({ store: world.store }, 'transfer-with-receipt', 't')
      const issued = history.filter((h) => h.type === 'StepCommandIssued').map((h) => h.step)
      expect(issued, label).toEqual(['debit-source', 'credit-target', 'send-receipt'])
      const undone = history.filter((h) => h.type === 'CompensationIssued').map((h) => h.step)
      expect(undone, label).toEqual(path.status === 'compensated' ? ['credit-target', 'debit-source'] : [])
      expect(state.status, label).toBe(path.status)
    }
  }, 900_000)
})
