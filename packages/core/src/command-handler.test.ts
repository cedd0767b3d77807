import { describe, expect, it } from 'vitest'
import { createCommandHandler } from './command-handler.js'
import { causedBy } from './correlation.js'
import { isAnnalsError } from './errors.js'
import type { Event } from './event.js'
import type { EventStore, ReadStreamOptions } from './event-store.js'
import type { IdempotencyStore } from './idempotency-store.js'
import { createInMemoryEventStore } from './in-memory/in-memory-event-store.js'
import { createInMemoryIdempotencyStore } from './in-memory/in-memory-idempotency-store.js'
import { createInMemorySnapshotStore } from './in-memory/in-memory-snapshot-store.js'
import { loadAggregate } from './load-aggregate.js'
import { everyNEvents } from './snapshot-policy.js'
import type { Snapshot, SnapshotStore } from './snapshot-store.js'
import {
  Account,
  accountAggregate,
  Deposit,
  MoneyDeposited,
  OpenAccount,
  Withdraw,
} from './test-support/account.fixture.js'

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('expected a rejection')
}

/** Counts appends and lets a test hold them until several loads have happened. */
function instrumented(inner: EventStore, holdAppendsUntilReads = 0) {
  let reads = 0
  let appends = 0
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  if (holdAppendsUntilReads === 0) release()
  const store: EventStore = {
    ...inner,
    async readStream<E extends Event = Event>(streamId: string, options?: ReadStreamOptions) {
      const result = await inner.readStream<E>(streamId, options)
      if (++reads >= holdAppendsUntilReads) release()
      return result
    },
    async appendToStream(streamId, events, options) {
      appends++
      await gate
      return inner.appendToStream(streamId, events, options)
    },
  }
  return { store, counts: () => ({ reads, appends }) }
}

describe('command handler', () => {
  it('validates, decides, appends and returns state, recorded events and version', async () => {
    const store = createInMemoryEventStore()
    const handler = createCommandHandler(Account, { store })
    await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
    const result = await handler.handle(Deposit.create({ accountId: 'a', cents: 250 }))
    expect(result.streamId).toBe('account-a')
    expect(result.version).toBe(2n)
    expect(result.state).toEqual({ status: 'open', owner: 'Ada', balance: 250n, movements: 1 })
    expect(result.events.map((e) => [e.type, e.data, e.streamVersion, e.schemaVersion])).toEqual([
      ['MoneyDeposited', { cents: 250, currency: 'EUR' }, 2n, 3],
    ])
    expect(result.replayed).toBe(false)
  })

  it('rejects an invalid command before touching the store', async () => {
    const { store, counts } = instrumented(createInMemoryEventStore())
    const handler = createCommandHandler(Account, { store })
    const error = await rejection(handler.handle({ type: 'Deposit', data: { accountId: 'a', cents: -5 } }))
    expect(error.code).toBe('ANNALS_ERR_VALIDATION')
    expect((error as unknown as { issues: { path: unknown[] }[] }).issues[0]?.path).toEqual(['cents'])
    expect(counts()).toEqual({ reads: 0, appends: 0 })
  })

  it('passes domain errors through with their code and appends nothing', async () => {
    const store = createInMemoryEventStore()
    const handler = createCommandHandler(Account, { store })
    await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
    const error = await rejection(handler.handle(Withdraw.create({ accountId: 'a', cents: 1 })))
    expect(error.code).toBe('INSUFFICIENT_FUNDS')
    expect(error.name).toBe('DomainError')
    expect((await store.readStream('account-a')).currentVersion).toBe(1n)
  })

  it('appends nothing when decide returns no event', async () => {
    const store = createInMemoryEventStore()
    const handler = createCommandHandler(accountAggregate(), { store })
    await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
    await handler.handle({ type: 'CloseAccount', data: { accountId: 'a' } })
    const again = await handler.handle({ type: 'CloseAccount', data: { accountId: 'a' } })
    expect(again.events).toEqual([])
    expect(again.version).toBe(2n)
  })

  describe('optimistic concurrency', () => {
    it('reloads and retries when two handlers race on one stream', async () => {
      const inner = createInMemoryEventStore()
      await createCommandHandler(Account, { store: inner }).handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      // Both handlers load version 1 before either appends: one must lose and retry.
      const { store, counts } = instrumented(inner, 2)
      const one = createCommandHandler(Account, { store })
      const two = createCommandHandler(Account, { store })
      const results = await Promise.all([
        one.handle(Deposit.create({ accountId: 'a', cents: 100 })),
        two.handle(Deposit.create({ accountId: 'a', cents: 20 })),
      ])
      expect(results.map((r) => r.version).sort()).toEqual([2n, 3n])
      expect(counts().appends).toBe(3)
      const final = await loadAggregate(Account, { store: inner }, 'account-a')
      expect(final.state).toMatchObject({ balance: 120n, movements: 2 })
    })

    it('retries by folding only the tail since the version it had, not by reloading the stream', async () => {
      const inner = createInMemoryEventStore()
      const setup = createCommandHandler(Account, { store: inner })
      await setup.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      for (let i = 0; i < 5; i++) await setup.handle(Deposit.create({ accountId: 'a', cents: 1 }))
      const reads: (bigint | undefined)[] = []
      let slipIn = true
      const store: EventStore = {
        ...inner,
        async readStream<E extends Event = Event>(streamId: string, options?: ReadStreamOptions) {
          reads.push(options?.from)
          return inner.readStream<E>(streamId, options)
        },
        async appendToStream(streamId, events, options) {
          if (slipIn) {
            slipIn = false
            await inner.appendToStream(streamId, [MoneyDeposited.create({ cents: 1000, currency: 'EUR' })])
          }
          return inner.appendToStream(streamId, events, options)
        },
      }
      const handler = createCommandHandler(Account, { store, retry: { initialDelayMs: 1 } })
      const result = await handler.handle(Deposit.create({ accountId: 'a', cents: 5 }))
      // One full load, then one read of the tail from version 7 (the event that won the race).
      expect(reads).toEqual([undefined, 7n])
      expect(result.version).toBe(8n)
      expect(result.state).toMatchObject({ balance: 1010n, movements: 7 })
    })

    it('gives up with ANNALS_ERR_RETRIES_EXHAUSTED after maxAttempts, the last conflict as cause', async () => {
      const inner = createInMemoryEventStore()
      await createCommandHandler(Account, { store: inner }).handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      let attempts = 0
      // Another writer always slips in between this handler's load and its append.
      const store: EventStore = {
        ...inner,
        async appendToStream(streamId, events, options) {
          attempts++
          await inner.appendToStream(streamId, [MoneyDeposited.create({ cents: 1, currency: 'EUR' })])
          return inner.appendToStream(streamId, events, options)
        },
      }
      const handler = createCommandHandler(Account, { store, retry: { maxAttempts: 3, initialDelayMs: 1 } })
      const error = await rejection(handler.handle(Deposit.create({ accountId: 'a', cents: 5 })))
      expect(error.code).toBe('ANNALS_ERR_RETRIES_EXHAUSTED')
      expect(attempts).toBe(3)
      expect(isAnnalsError(error.cause, 'ANNALS_ERR_CONCURRENCY')).toBe(true)
    })

    it('does not retry when the caller gave the expected version', async () => {
      const inner = createInMemoryEventStore()
      const { store, counts } = instrumented(inner)
      const handler = createCommandHandler(Account, { store })
      await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      await handler.handle(Deposit.create({ accountId: 'a', cents: 5 }))
      const error = await rejection(
        handler.handle(Deposit.create({ accountId: 'a', cents: 5 }), { expectedVersion: 1n }),
      )
      expect(error.code).toBe('ANNALS_ERR_CONCURRENCY')
      expect(counts().appends).toBe(3)
      const ok = await handler.handle(Deposit.create({ accountId: 'a', cents: 5 }), { expectedVersion: 2n })
      expect(ok.version).toBe(3n)
    })

    it('refuses a number as expected version (JavaScript callers) before loading, saying to write 1n', async () => {
      const { store, counts } = instrumented(createInMemoryEventStore())
      const handler = createCommandHandler(Account, { store })
      await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      const before = counts()
      const error = await rejection(
        handler.handle(Deposit.create({ accountId: 'a', cents: 5 }), { expectedVersion: 1 as unknown as bigint }),
      )
      expect(error.code).toBe('ANNALS_ERR_INVALID_ARGUMENT')
      expect(error.message).toContain('use 1n')
      const named = await rejection(
        handler.handle(Deposit.create({ accountId: 'a', cents: 5 }), { expectedVersion: 'any' as unknown as bigint }),
      )
      expect(named.message).toContain('a bigint such as 1n')
      expect(counts()).toEqual(before)
    })
  })

  describe('idempotency keys', () => {
    it('returns the first result for a repeated key and appends nothing', async () => {
      const store = createInMemoryEventStore()
      const handler = createCommandHandler(Account, { store, idempotency: createInMemoryIdempotencyStore() })
      await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      const command = Deposit.create({ accountId: 'a', cents: 70 }, { idempotencyKey: 'deposit-1' })
      const first = await handler.handle(command)
      await handler.handle(Deposit.create({ accountId: 'a', cents: 1 }))
      const again = await handler.handle(command)
      expect(again.replayed).toBe(true)
      expect(again.version).toBe(first.version)
      expect(again.events.map((e) => e.eventId)).toEqual(first.events.map((e) => e.eventId))
      expect(again.state).toEqual(first.state)
      expect(again.commandId).toBe(first.commandId)
      expect((await store.readStream('account-a')).currentVersion).toBe(3n)
    })

    it('runs a key once when the same command arrives twice at the same time', async () => {
      const store = createInMemoryEventStore()
      const handler = createCommandHandler(Account, { store, idempotency: createInMemoryIdempotencyStore() })
      await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      const command = Deposit.create({ accountId: 'a', cents: 70 }, { idempotencyKey: 'k' })
      const [x, y] = await Promise.all([handler.handle(command), handler.handle(command)])
      expect([x.replayed, y.replayed].sort()).toEqual([false, true])
      expect((await store.readStream('account-a')).currentVersion).toBe(2n)
    })

    it('rejects a key reused with another command with ANNALS_ERR_IDEMPOTENCY_KEY_REUSED', async () => {
      const store = createInMemoryEventStore()
      const handler = createCommandHandler(Account, { store, idempotency: createInMemoryIdempotencyStore() })
      await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      await handler.handle(Deposit.create({ accountId: 'a', cents: 70 }, { idempotencyKey: 'k' }))
      const error = await rejection(
        handler.handle(Deposit.create({ accountId: 'a', cents: 71 }, { idempotencyKey: 'k' })),
      )
      expect(error.code).toBe('ANNALS_ERR_IDEMPOTENCY_KEY_REUSED')
      expect((await store.readStream('account-a')).currentVersion).toBe(2n)
    })

    it('derives the same event ids from the same key and command', async () => {
      const a = createCommandHandler(Account, { store: createInMemoryEventStore() })
      const b = createCommandHandler(Account, { store: createInMemoryEventStore() })
      const command = OpenAccount.create({ accountId: 'a', owner: 'Ada' }, { idempotencyKey: 'open-a' })
      const [x, y] = [await a.handle(command), await b.handle(command)]
      expect(x.events[0]?.eventId).toBe(y.events[0]?.eventId)
      expect(x.commandId).toBe(y.commandId)
      const other = await b.handle(OpenAccount.create({ accountId: 'b', owner: 'Ada' }, { idempotencyKey: 'open-b' }))
      expect(other.events[0]?.eventId).not.toBe(x.events[0]?.eventId)
    })

    // The process dies after the append committed but before the idempotency store recorded the result.
    const crashingOnce = (): IdempotencyStore => {
      const real = createInMemoryIdempotencyStore()
      let crashed = false
      return {
        async execute(key, fingerprint, work) {
          if (!crashed) {
            crashed = true
            await work()
            throw new Error('process died before recording the result')
          }
          return real.execute(key, fingerprint, work)
        },
      }
    }

    it.each([
      [
        'a command the new state would refuse',
        OpenAccount.create({ accountId: 'a', owner: 'Ada' }, { idempotencyKey: 'k' }),
      ],
      [
        'a command the new state would accept again',
        Deposit.create({ accountId: 'a', cents: 9 }, { idempotencyKey: 'k' }),
      ],
    ])('survives a crash between append and recording, for %s', async (_label, command) => {
      const store = createInMemoryEventStore()
      const snapshots = createInMemorySnapshotStore()
      // Snapshot after every event, so the retry's load does not even see the first run's events in its tail.
      const aggregate = accountAggregate({ snapshot: everyNEvents(1) })
      const handler = createCommandHandler(aggregate, { store, snapshots, idempotency: crashingOnce() })
      if (command.type === 'Deposit')
        await createCommandHandler(aggregate, { store }).handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      const before = (await store.readStream('account-a')).currentVersion
      await expect(handler.handle(command)).rejects.toThrow('process died')
      const committed = (await store.readStream('account-a')).events.slice(Number(before))
      expect(committed).toHaveLength(1)
      const retried = await handler.handle(command)
      expect(retried.replayed).toBe(true)
      expect(retried.events.map((e) => e.eventId)).toEqual(committed.map((e) => e.eventId))
      expect(retried.version).toBe(before + 1n)
      expect((await store.readStream('account-a')).currentVersion).toBe(before + 1n)
    })

    it('without an idempotency store, a repeated key still appends nothing (the store sees the same ids)', async () => {
      const store = createInMemoryEventStore()
      const handler = createCommandHandler(Account, { store })
      await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      const command = Deposit.create({ accountId: 'a', cents: 70 }, { idempotencyKey: 'k' })
      const first = await handler.handle(command)
      const again = await handler.handle(command)
      expect(again.replayed).toBe(true)
      expect(again.events.map((e) => e.eventId)).toEqual(first.events.map((e) => e.eventId))
      expect((await store.readStream('account-a')).currentVersion).toBe(2n)
    })
  })

  describe('correlation and causation', () => {
    it('stamps events with the command correlation id, its causation id, and user keys', async () => {
      const store = createInMemoryEventStore()
      const handler = createCommandHandler(Account, { store })
      const result = await handler.handle(
        OpenAccount.create(
          { accountId: 'a', owner: 'Ada' },
          {
            commandId: 'cmd-1',
            correlationId: 'corr-1',
            causationId: 'http-req-9',
            tenant: 'acme',
            idempotencyKey: 'x',
          },
        ),
      )
      expect(result.events[0]?.metadata).toEqual({ tenant: 'acme', correlationId: 'corr-1', causationId: 'http-req-9' })
      const [stored] = (await store.readStream('account-a')).events
      expect(stored?.metadata).toEqual(result.events[0]?.metadata)
    })

    it('starts a new correlation and causation (the command id) when the command has none', async () => {
      const handler = createCommandHandler(Account, { store: createInMemoryEventStore() })
      const result = await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      expect(result.correlationId).toBe(result.commandId)
      expect(result.events[0]?.metadata).toEqual({ correlationId: result.commandId, causationId: result.commandId })
    })

    it('carries the correlation through a command issued in reaction to an event', async () => {
      const handler = createCommandHandler(Account, { store: createInMemoryEventStore() })
      const opened = await handler.handle(
        OpenAccount.create({ accountId: 'a', owner: 'Ada' }, { correlationId: 'corr-1' }),
      )
      const trigger = opened.events[0]!
      const metadata = causedBy(trigger, { idempotencyKey: `welcome-bonus:${trigger.eventId}` })
      expect(metadata).toEqual({
        idempotencyKey: `welcome-bonus:${trigger.eventId}`,
        correlationId: 'corr-1',
        causationId: trigger.eventId,
      })
      const reaction = await handler.handle(Deposit.create({ accountId: 'a', cents: 500 }, metadata))
      expect(reaction.events[0]?.metadata.correlationId).toBe('corr-1')
      // The stored event, not the command id (which is stored nowhere), is the reaction's cause.
      expect(reaction.events[0]?.metadata.causationId).toBe(trigger.eventId)
    })
  })

  describe('snapshots', () => {
    it('saves a snapshot only after the append committed, when the policy says so', async () => {
      const store = createInMemoryEventStore()
      const inner = createInMemorySnapshotStore()
      const saved: { snapshot: Snapshot; committedVersion: bigint }[] = []
      const snapshots: SnapshotStore = {
        ...inner,
        async save(snapshot) {
          saved.push({ snapshot, committedVersion: (await store.readStream(snapshot.streamId)).currentVersion })
          return inner.save(snapshot)
        },
      }
      const handler = createCommandHandler(accountAggregate({ snapshot: everyNEvents(3) }), { store, snapshots })
      await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      await handler.handle(Deposit.create({ accountId: 'a', cents: 1 }))
      expect(saved).toEqual([])
      await handler.handle(Deposit.create({ accountId: 'a', cents: 2 }))
      expect(saved).toHaveLength(1)
      expect(saved[0]?.snapshot.streamVersion).toBe(3n)
      expect(saved[0]?.committedVersion).toBe(3n)
      expect(saved[0]?.snapshot.state).toEqual({ status: 'open', owner: 'Ada', balance: '3', movements: 2 })
      const events = (await store.readStream('account-a')).events
      expect(saved[0]?.snapshot.globalPosition).toBe(events[2]?.globalPosition)
    })

    it('saves no snapshot when the append fails', async () => {
      const inner = createInMemoryEventStore()
      const snapshots = createInMemorySnapshotStore()
      const aggregate = accountAggregate({ snapshot: () => true })
      await createCommandHandler(aggregate, { store: inner }).handle(
        OpenAccount.create({ accountId: 'a', owner: 'Ada' }),
      )
      const store: EventStore = {
        ...inner,
        async appendToStream(streamId, events, options) {
          await inner.appendToStream(streamId, [MoneyDeposited.create({ cents: 1, currency: 'EUR' })])
          return inner.appendToStream(streamId, events, options)
        },
      }
      const handler = createCommandHandler(aggregate, {
        store,
        snapshots,
        retry: { maxAttempts: 2, initialDelayMs: 1 },
      })
      await expect(handler.handle(Deposit.create({ accountId: 'a', cents: 5 }))).rejects.toThrow(/Gave up/)
      expect(snapshots.list('account-a')).toEqual([])
    })

    it('loads from a snapshot of the same state version, and ignores one of another version', async () => {
      const store = createInMemoryEventStore()
      const snapshots = createInMemorySnapshotStore()
      const v1 = accountAggregate({ stateVersion: 1, snapshot: () => false })
      const handler = createCommandHandler(v1, { store, snapshots })
      await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      const last = await handler.handle(Deposit.create({ accountId: 'a', cents: 10 }))
      const event = last.events[0]!
      // A snapshot whose state disagrees with the events shows which path the load took.
      await snapshots.save({
        streamId: 'account-a',
        streamVersion: 2n,
        globalPosition: event.globalPosition,
        recordedAt: event.recordedAt,
        stateVersion: 1,
        state: { status: 'open', owner: 'Snapshot', balance: '999', movements: 1 },
      })
      const fromSnapshot = await loadAggregate(v1, { store, snapshots }, 'account-a')
      expect(fromSnapshot.snapshotVersion).toBe(2n)
      expect(fromSnapshot.state).toMatchObject({ owner: 'Snapshot', balance: 999n })
      const v2 = accountAggregate({ stateVersion: 2, snapshot: () => false })
      const rebuilt = await loadAggregate(v2, { store, snapshots }, 'account-a')
      expect(rebuilt.snapshotVersion).toBeNull()
      expect(rebuilt.state).toMatchObject({ owner: 'Ada', balance: 10n })
      // Even a store that ignores the state version in its query is not trusted.
      const lying: SnapshotStore = {
        save: snapshots.save,
        loadLatest: (id) => snapshots.loadLatest(id, { stateVersion: 1 }),
      }
      const stillRebuilt = await loadAggregate(v2, { store, snapshots: lying }, 'account-a')
      expect(stillRebuilt.state).toMatchObject({ owner: 'Ada', balance: 10n })
      const next = await createCommandHandler(v2, { store, snapshots }).handle(
        Deposit.create({ accountId: 'a', cents: 1 }),
      )
      expect(next.state).toMatchObject({ balance: 11n })
    })

    it('reports a failing snapshot save without failing the committed command', async () => {
      const store = createInMemoryEventStore()
      const errors: unknown[] = []
      const snapshots: SnapshotStore = {
        save: async () => {
          throw new Error('disk full')
        },
        loadLatest: async () => null,
      }
      const handler = createCommandHandler(accountAggregate({ snapshot: () => true }), {
        store,
        snapshots,
        onSnapshotError: (error) => errors.push(error),
      })
      const result = await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      expect(result.version).toBe(1n)
      expect(errors).toHaveLength(1)
    })

    it('fails loudly (in the in-memory store) for state that does not survive JSON without serializeState', async () => {
      const snapshots = createInMemorySnapshotStore()
      const errors: unknown[] = []
      const raw = accountAggregate({ snapshot: () => true })
      const withoutSerializer = { ...raw, serializeState: (s: unknown) => s }
      const handler = createCommandHandler(withoutSerializer, {
        store: createInMemoryEventStore(),
        snapshots,
        onSnapshotError: (error) => errors.push(error),
      })
      await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }))
      expect(isAnnalsError(errors[0], 'ANNALS_ERR_VALIDATION')).toBe(true)
    })
  })

  it('needs a stream id from the aggregate or the call', async () => {
    const { streamId: _drop, ...rest } = Account
    const handler = createCommandHandler({ ...rest, streamId: undefined }, { store: createInMemoryEventStore() })
    const error = await rejection(handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' })))
    expect(error.code).toBe('ANNALS_ERR_INVALID_ARGUMENT')
    const ok = await handler.handle(OpenAccount.create({ accountId: 'a', owner: 'Ada' }), { streamId: 'custom-1' })
    expect(ok.streamId).toBe('custom-1')
  })
})
