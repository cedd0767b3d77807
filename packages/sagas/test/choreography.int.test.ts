import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { createWorld, spawnWorker, useTestDatabase } from './helpers.js'

const db = useTestDatabase()

describe('choreography reactor', () => {
  it('takes effect once when its event is redelivered after a crash before the checkpoint', async () => {
    const world = await createWorld(db.pool, 'choreo')
    await world.open('src-1', 'EUR', 0)
    await world.open('mirror-1', 'EUR', 0)
    const log = join(tmpdir(), `annals-sagas-reactions-${process.pid}-${Date.now()}.log`)
    const reactions = () => {
      try {
        return readFileSync(log, 'utf8').split('\n').filter(Boolean)
      } catch {
        return []
      }
    }
    const env = { DATABASE_URL: db.url, SCHEMA: 'choreo', REACTION_LOG: log }
    // The first worker sends the mirrored deposit, then dies before its checkpoint commits.
    const first = spawnWorker({ ...env, CRASH_AFTER_REACTION: '1' })
    const deposit = await world.accounts.handle({ type: 'Deposit', data: { accountId: 'src-1', amount: 25 } })
    const eventId = deposit.events[0]?.eventId as string
    expect((await first.exited).signal, first.output()).toBe('SIGKILL')
    expect(reactions()).toEqual([eventId])
    expect(await world.balance('mirror-1')).toBe(25)

    // The second worker gets the same event again (its lease comes after the first one's expired).
    const second = spawnWorker(env)
    await waitFor(
      'the redelivered event to be checkpointed',
      async () => {
        // The source deposit and the mirror deposit it caused (which the reactor skips) are both past.
        const { rows } = await db.pool.query<{ reactions: string }>(
          'SELECT reactions::text FROM choreo.reactor_mirror_deposits',
        )
        return rows[0]?.reactions === '2'
      },
      30_000,
    )
    expect(reactions()).toEqual([eventId, eventId])
    // Redelivered, reacted to twice, applied once.
    expect(await world.types('account-mirror-1')).toEqual(['AccountOpened', 'MoneyDeposited'])
    expect(await world.balance('mirror-1')).toBe(25)

    // A later event flows normally.
    await world.accounts.handle({ type: 'Deposit', data: { accountId: 'src-1', amount: 5 } })
    await waitFor('the second mirror deposit', async () => (await world.balance('mirror-1')) === 30)
    await second.kill()
    expect(await world.types('account-mirror-1')).toEqual(['AccountOpened', 'MoneyDeposited', 'MoneyDeposited'])
  })
})
