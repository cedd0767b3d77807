import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { isAnnalsError } from './errors.js'
import type { RecordedEvent } from './event.js'
import { defineEvent } from './event-definition.js'
import { createEventRegistry } from './event-registry.js'
import { AccountOpened, MoneyDeposited, MoneyWithdrawn } from './test-support/account.fixture.js'
import { thrown } from './test-support/thrown.fixture.js'

const registry = createEventRegistry([AccountOpened, MoneyDeposited, MoneyWithdrawn])

function recorded(type: string, schemaVersion: number, data: unknown): RecordedEvent {
  return {
    type,
    data,
    schemaVersion,
    eventId: '00000000-0000-4000-8000-000000000001',
    streamId: 'account-1',
    streamVersion: 7n,
    globalPosition: 70n,
    transactionId: 9n,
    metadata: { correlationId: 'c' },
    recordedAt: new Date('2024-01-01T00:00:00Z'),
  }
}

describe('event definitions', () => {
  it('count schema versions from 1, one per upcast step', () => {
    expect(AccountOpened.schemaVersion).toBe(1)
    expect(MoneyDeposited.schemaVersion).toBe(3)
    expect(MoneyDeposited.versions.map((v) => v.schemaVersion)).toEqual([1, 2, 3])
  })

  it('create validates and stamps the current schema version', () => {
    expect(MoneyDeposited.create({ cents: 5, currency: 'USD' })).toEqual({
      type: 'MoneyDeposited',
      data: { cents: 5, currency: 'USD' },
      schemaVersion: 3,
    })
    const error = thrown(() => MoneyDeposited.create({ cents: -1, currency: 'USD' }))
    expect(isAnnalsError(error, 'ANNALS_ERR_VALIDATION')).toBe(true)
    expect((error as { issues: { path: unknown[] }[] }).issues[0]?.path).toEqual(['cents'])
  })

  it('leave earlier definitions unchanged when upcast adds a version', () => {
    const v1 = defineEvent('Thing', z.object({ a: z.number() }))
    const v2 = v1.upcast(z.object({ a: z.number(), b: z.string() }), (old) => ({ ...old, b: 'x' }))
    expect(v1.schemaVersion).toBe(1)
    expect(v2.schemaVersion).toBe(2)
  })
})

describe('event registry', () => {
  it('upcasts every stored version to the latest shape, keeping the envelope', () => {
    const v1 = registry.decode(recorded('MoneyDeposited', 1, { amount: 12 }))
    const v2 = registry.decode(recorded('MoneyDeposited', 2, { cents: 1200 }))
    const v3 = registry.decode(recorded('MoneyDeposited', 3, { cents: 1200, currency: 'EUR' }))
    expect(v1.data).toEqual({ cents: 1200, currency: 'EUR' })
    expect(v2.data).toEqual(v1.data)
    expect(v3.data).toEqual(v1.data)
    expect(v1.schemaVersion).toBe(3)
    expect(v1.streamVersion).toBe(7n)
    expect(v1.metadata).toEqual({ correlationId: 'c' })
  })

  it('rejects an unknown event type with ANNALS_ERR_UNKNOWN_EVENT_TYPE naming the stream', () => {
    const error = thrown(() => registry.decode(recorded('MoneyTeleported', 1, {})))
    expect(isAnnalsError(error, 'ANNALS_ERR_UNKNOWN_EVENT_TYPE')).toBe(true)
    expect((error as Error).message).toContain('account-1')
    expect((error as { eventType: string }).eventType).toBe('MoneyTeleported')
    expect((error as Error).message).toMatch(/: add its definition to the registry$/)
  })

  it('names the aggregate and its `events` option when the registry has an owner', () => {
    const owned = createEventRegistry([AccountOpened], { kind: 'aggregate', name: 'account', option: 'events' })
    const error = thrown(() => owned.encode({ type: 'MoneyTeleported', data: {} } as never))
    expect(isAnnalsError(error, 'ANNALS_ERR_UNKNOWN_EVENT_TYPE')).toBe(true)
    expect((error as Error).message).toBe(
      'Unknown event type "MoneyTeleported": aggregate "account" does not know it: add its definition to the aggregate\'s `events`',
    )
  })

  it('rejects a schema version newer than the code knows with ANNALS_ERR_UNSUPPORTED_SCHEMA_VERSION', () => {
    const error = thrown(() => registry.decode(recorded('MoneyDeposited', 4, { cents: 1 })))
    expect(isAnnalsError(error, 'ANNALS_ERR_UNSUPPORTED_SCHEMA_VERSION')).toBe(true)
    expect(error).toMatchObject({ eventType: 'MoneyDeposited', schemaVersion: 4, latestSchemaVersion: 3 })
    expect(
      isAnnalsError(
        thrown(() => registry.decode(recorded('MoneyDeposited', 0, {}))),
        'ANNALS_ERR_UNSUPPORTED_SCHEMA_VERSION',
      ),
    ).toBe(true)
  })

  it('rejects stored data that does not match the schema of its version', () => {
    const error = thrown(() => registry.decode(recorded('MoneyDeposited', 1, { cents: 100 })))
    expect(isAnnalsError(error, 'ANNALS_ERR_VALIDATION')).toBe(true)
    expect((error as { issues: { path: unknown[] }[] }).issues[0]?.path).toEqual(['amount'])
  })

  it('safeDecode returns the error instead of throwing', () => {
    const result = registry.safeDecode(recorded('Nope', 1, {}))
    expect(result.success).toBe(false)
    if (!result.success) expect(result.error.code).toBe('ANNALS_ERR_UNKNOWN_EVENT_TYPE')
    expect(registry.safeDecode(recorded('AccountOpened', 1, { accountId: 'a', owner: 'o' })).success).toBe(true)
  })

  it('encode validates outgoing data, names the field, and strips unknown keys', () => {
    const encoded = registry.encode({ type: 'MoneyWithdrawn', data: { cents: 5, extra: true } as { cents: number } })
    expect(encoded).toEqual({ type: 'MoneyWithdrawn', data: { cents: 5 }, schemaVersion: 1 })
    const error = thrown(() => registry.encode({ type: 'AccountOpened', data: { accountId: 'a' } as never }))
    expect(isAnnalsError(error, 'ANNALS_ERR_VALIDATION')).toBe(true)
    expect((error as { issues: { path: unknown[] }[] }).issues.map((i) => i.path)).toEqual([['owner']])
    expect(
      isAnnalsError(
        thrown(() => registry.encode({ type: 'Nope', data: {} } as never)),
        'ANNALS_ERR_UNKNOWN_EVENT_TYPE',
      ),
    ).toBe(true)
  })

  it('encode accepts an older schema version when asked (imports of history)', () => {
    const encoded = registry.encode({ type: 'MoneyDeposited', data: { amount: 3 } as never, schemaVersion: 1 })
    expect(encoded.schemaVersion).toBe(1)
    expect(
      isAnnalsError(
        thrown(() => registry.encode({ type: 'MoneyDeposited', data: {} as never, schemaVersion: 9 })),
        'ANNALS_ERR_UNSUPPORTED_SCHEMA_VERSION',
      ),
    ).toBe(true)
  })

  it('refuses two definitions of one type', () => {
    const error = thrown(() => createEventRegistry([AccountOpened, defineEvent('AccountOpened', z.object({}))]))
    expect(isAnnalsError(error, 'ANNALS_ERR_INVALID_ARGUMENT')).toBe(true)
  })

  it('refuses asynchronous schemas rather than silently awaiting them', () => {
    const Async = defineEvent(
      'Async',
      z.object({ a: z.string() }).refine(async () => true),
    )
    const error = thrown(() => createEventRegistry([Async]).decode(recorded('Async', 1, { a: 'x' })))
    expect(isAnnalsError(error, 'ANNALS_ERR_ASYNC_SCHEMA')).toBe(true)
  })
})
