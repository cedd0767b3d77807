import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createCommandHandler } from './command-handler.js'
import { isDomainError } from './errors.js'
import type { NewEvent } from './event.js'
import { createInMemoryEventStore } from './in-memory/in-memory-event-store.js'
import { createInMemorySnapshotStore } from './in-memory/in-memory-snapshot-store.js'
import { loadAggregate } from './load-aggregate.js'
import { everyNEvents } from './snapshot-policy.js'
import {
  Account,
  accountAggregate,
  CloseAccount,
  Deposit,
  OpenAccount,
  Withdraw,
} from './test-support/account.fixture.js'

/** A clock that moves one second per event, so that every event has its own time. */
function steppingClock(start = Date.UTC(2024, 0, 1)) {
  let now = start
  return () => {
    now += 1000
    return new Date(now)
  }
}

const commandArb = fc.oneof(
  fc.constant({ kind: 'open' as const }),
  fc.record({ kind: fc.constant('deposit' as const), cents: fc.integer({ min: 1, max: 1000 }) }),
  fc.record({ kind: fc.constant('withdraw' as const), cents: fc.integer({ min: 1, max: 1500 }) }),
  fc.constant({ kind: 'close' as const }),
)
type Cmd = typeof commandArb extends fc.Arbitrary<infer T> ? T : never

function toCommand(cmd: Cmd) {
  switch (cmd.kind) {
    case 'open':
      return OpenAccount.create({ accountId: 'p', owner: 'Ada' })
    case 'deposit':
      return Deposit.create({ accountId: 'p', cents: cmd.cents })
    case 'withdraw':
      return Withdraw.create({ accountId: 'p', cents: cmd.cents })
    case 'close':
      return CloseAccount.create({ accountId: 'p' })
  }
}

describe('loadAggregate', () => {
  it('for random command sequences, every snapshot plus its tail equals a full replay, at every point in time', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            { weight: 1, arbitrary: fc.constant({ kind: 'open' as const }) },
            { weight: 6, arbitrary: commandArb },
          ),
          {
            maxLength: 30,
          },
        ),
        fc.integer({ min: 1, max: 5 }),
        async (commands, every) => {
          const store = createInMemoryEventStore({ clock: steppingClock() })
          const snapshots = createInMemorySnapshotStore()
          const aggregate = accountAggregate({ snapshot: everyNEvents(every) })
          const handler = createCommandHandler(aggregate, { store, snapshots })
          let last = aggregate.initialState()
          for (const command of commands) {
            try {
              last = (await handler.handle(toCommand(command))).state
            } catch (error) {
              if (!isDomainError(error)) throw error
            }
          }
          const id = 'account-p'
          const full = await loadAggregate(aggregate, { store }, id)
          expect(full.snapshotVersion).toBeNull()
          expect(full.state).toEqual(last)
          const fast = await loadAggregate(aggregate, { store, snapshots }, id)
          expect(fast.state).toEqual(full.state)
          expect(fast.version).toBe(full.version)
          expect(fast.lastEvent?.eventId).toBe(full.lastEvent?.eventId)

          for (const snapshot of snapshots.list(id)) {
            const replay = await loadAggregate(aggregate, { store }, id, { asOf: { version: snapshot.streamVersion } })
            expect(aggregate.deserializeState(snapshot.state)).toEqual(replay.state)
          }
          const events = (await store.readStream(id)).events
          for (const event of events) {
            for (const asOf of [
              { version: event.streamVersion },
              { position: event.globalPosition },
              { time: event.recordedAt },
            ]) {
              const slow = await loadAggregate(aggregate, { store }, id, { asOf })
              const quick = await loadAggregate(aggregate, { store, snapshots }, id, { asOf })
              expect(quick.state).toEqual(slow.state)
              expect(quick.version).toBe(event.streamVersion)
              expect(quick.lastEvent?.eventId).toBe(event.eventId)
            }
          }
          if (snapshots.list(id).length > 0) {
            const top = snapshots.list(id).at(-1)!
            expect(
              (await loadAggregate(aggregate, { store, snapshots }, id, { asOf: { version: top.streamVersion } }))
                .snapshotVersion,
            ).toBe(top.streamVersion)
          }
        },
      ),
      { numRuns: 60 },
    )
  })

  it('folds old stored shapes, upcast on read, to the same state as the current shape', async () => {
    const movement = fc.oneof(
      fc.record({
        kind: fc.constant('deposit' as const),
        units: fc.integer({ min: 1, max: 500 }),
        version: fc.constantFrom(1, 2, 3),
      }),
      fc.record({ kind: fc.constant('withdraw' as const), cents: fc.integer({ min: 1, max: 300 }) }),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(movement, { maxLength: 25 }), async (movements) => {
        const store = createInMemoryEventStore()
        const opened: NewEvent = { type: 'AccountOpened', data: { accountId: 'x', owner: 'Ada' } }
        const asStored = movements.map((m): NewEvent => {
          if (m.kind === 'withdraw') return { type: 'MoneyWithdrawn', data: { cents: m.cents } }
          if (m.version === 1) return { type: 'MoneyDeposited', data: { amount: m.units }, schemaVersion: 1 }
          if (m.version === 2) return { type: 'MoneyDeposited', data: { cents: m.units * 100 }, schemaVersion: 2 }
          return { type: 'MoneyDeposited', data: { cents: m.units * 100, currency: 'EUR' }, schemaVersion: 3 }
        })
        const current = movements.map(
          (m): NewEvent =>
            m.kind === 'withdraw'
              ? { type: 'MoneyWithdrawn', data: { cents: m.cents } }
              : { type: 'MoneyDeposited', data: { cents: m.units * 100, currency: 'EUR' }, schemaVersion: 3 },
        )
        await store.appendToStream('old', [opened, ...asStored])
        await store.appendToStream('new', [opened, ...current])
        const old = await loadAggregate(Account, { store }, 'old')
        const fresh = await loadAggregate(Account, { store }, 'new')
        expect(old.state).toEqual(fresh.state)
        expect(old.lastEvent?.data).toEqual(fresh.lastEvent?.data)
      }),
      { numRuns: 100 },
    )
  })

  it('time-travels by version, position and time, and starts from the nearest earlier snapshot', async () => {
    const store = createInMemoryEventStore({ clock: steppingClock() })
    const snapshots = createInMemorySnapshotStore()
    const aggregate = accountAggregate({ snapshot: everyNEvents(2) })
    const handler = createCommandHandler(aggregate, { store, snapshots })
    await handler.handle(OpenAccount.create({ accountId: 't', owner: 'Ada' }))
    for (const cents of [10, 20, 30, 40]) await handler.handle(Deposit.create({ accountId: 't', cents }))
    const events = (await store.readStream('account-t')).events
    const third = events[2]!
    const byVersion = await loadAggregate(aggregate, { store, snapshots }, 'account-t', { asOf: { version: 3n } })
    expect(byVersion).toMatchObject({ version: 3n, snapshotVersion: 2n, eventsFolded: 1 })
    expect(byVersion.state).toMatchObject({ balance: 30n })
    expect(byVersion.lastEvent?.eventId).toBe(third.eventId)
    const byPosition = await loadAggregate(aggregate, { store, snapshots }, 'account-t', {
      asOf: { position: third.globalPosition },
    })
    expect(byPosition.state).toEqual(byVersion.state)
    const byTime = await loadAggregate(aggregate, { store, snapshots }, 'account-t', {
      asOf: { time: new Date(third.recordedAt.getTime() + 500) },
    })
    expect(byTime.state).toEqual(byVersion.state)
    const before = await loadAggregate(aggregate, { store, snapshots }, 'account-t', {
      asOf: { time: new Date(events[0]!.recordedAt.getTime() - 1) },
    })
    expect(before).toMatchObject({ version: 0n, lastEvent: null, state: { status: 'none' } })
    const exactSnapshot = await loadAggregate(aggregate, { store, snapshots }, 'account-t', { asOf: { version: 4n } })
    expect(exactSnapshot).toMatchObject({ snapshotVersion: 4n, eventsFolded: 0, version: 4n })
    expect(exactSnapshot.lastEvent?.eventId).toBe(events[3]?.eventId)
  })

  it('reads a missing stream as the initial state at version 0n', async () => {
    const loaded = await loadAggregate(Account, { store: createInMemoryEventStore() }, 'account-none')
    expect(loaded).toMatchObject({ version: 0n, state: { status: 'none' }, lastEvent: null })
  })

  it('fails with a typed error, never a skip, on an unknown event type or a newer schema version', async () => {
    const store = createInMemoryEventStore()
    await store.appendToStream('account-u', [
      { type: 'AccountOpened', data: { accountId: 'u', owner: 'Ada' } },
      { type: 'AccountFrozen', data: {} },
    ])
    await store.appendToStream('account-v', [
      { type: 'AccountOpened', data: { accountId: 'v', owner: 'Ada' } },
      { type: 'MoneyDeposited', data: { cents: 1, currency: 'EUR', fee: 0 }, schemaVersion: 4 },
    ])
    await expect(loadAggregate(Account, { store }, 'account-u')).rejects.toMatchObject({
      code: 'ANNALS_ERR_UNKNOWN_EVENT_TYPE',
      eventType: 'AccountFrozen',
      owner: { kind: 'aggregate', name: Account.name, option: 'events' },
      // Says where the missing definition goes: the aggregate's `events`.
      message: `Unknown event type "AccountFrozen" (stream "account-u" version 2): aggregate "${Account.name}" does not know it: add its definition to the aggregate's \`events\``,
    })
    await expect(loadAggregate(Account, { store }, 'account-v')).rejects.toMatchObject({
      code: 'ANNALS_ERR_UNSUPPORTED_SCHEMA_VERSION',
      schemaVersion: 4,
    })
    const handler = createCommandHandler(Account, { store })
    await expect(handler.handle(Deposit.create({ accountId: 'u', cents: 1 }))).rejects.toMatchObject({
      code: 'ANNALS_ERR_UNKNOWN_EVENT_TYPE',
    })
    expect((await store.readStream('account-u')).currentVersion).toBe(2n)
    // Up to the bad event, time travel still works.
    const before = await loadAggregate(Account, { store }, 'account-v', { asOf: { version: 1n } })
    expect(before.state).toMatchObject({ status: 'open' })
  })

  it('rejects a malformed asOf', async () => {
    await expect(
      loadAggregate(Account, { store: createInMemoryEventStore() }, 'x', { asOf: { time: new Date('nope') } }),
    ).rejects.toMatchObject({ code: 'ANNALS_ERR_INVALID_ARGUMENT' })
  })
})
