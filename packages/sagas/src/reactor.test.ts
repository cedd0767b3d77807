import { createCommandHandler, type RecordedEvent } from '@annals/core'
import { createInMemoryEventStore } from '@annals/core/in-memory'
import { describe, expect, it } from 'vitest'
import { Account, MoneyDeposited } from '../examples/bank-transfer.js'
import { createReactorHandler, defineReactor, reactionKey } from './reactor.js'

describe('reactor', () => {
  const twice = defineReactor({
    name: 'split',
    handles: [MoneyDeposited],
    async react(event, { send }) {
      if (event.data.accountId !== 'src') return
      // Two commands to one stream: each gets its own key (position), both stay idempotent.
      await send(Account, { type: 'Deposit', data: { accountId: 'dst', amount: event.data.amount } })
      await send(Account, { type: 'Deposit', data: { accountId: 'dst', amount: 1 } })
    },
  })

  it('sends commands caused by the event, with keys derived from its id, so redelivery changes nothing', async () => {
    const store = createInMemoryEventStore()
    const accounts = createCommandHandler(Account, { store })
    await accounts.handle({ type: 'OpenAccount', data: { accountId: 'src', currency: 'EUR' } })
    await accounts.handle({ type: 'OpenAccount', data: { accountId: 'dst', currency: 'EUR' } })
    const deposited = await accounts.handle({ type: 'Deposit', data: { accountId: 'src', amount: 10 } })
    const event = deposited.events[0] as RecordedEvent
    const handle = createReactorHandler(twice, { store })
    for (let delivery = 0; delivery < 3; delivery++) await handle(event)
    const dst = (await store.readStream('account-dst')).events
    expect(dst.map((e) => [e.type, (e.data as { amount?: number }).amount])).toEqual([
      ['AccountOpened', undefined],
      ['MoneyDeposited', 10],
      ['MoneyDeposited', 1],
    ])
    expect(dst[1]?.metadata.causationId).toBe(event.eventId)
    expect(dst[1]?.metadata.correlationId).toBe(event.metadata.correlationId)
    expect(dst[1]?.metadata.reactor).toBe('split')
    expect(reactionKey('split', event.eventId, '0')).toBe(`reactor:split:${event.eventId}:0`)
  })

  it('ignores events of types it does not handle', async () => {
    const store = createInMemoryEventStore()
    const handle = createReactorHandler(twice, { store })
    await handle({ type: 'Other', data: {} } as unknown as RecordedEvent)
    expect((await store.readAll()).events).toEqual([])
  })
})
