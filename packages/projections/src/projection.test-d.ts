import { defineEvent, type Event } from '@annals/core'
import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { type AnyProjection, defineProjection, defineProjectionFor } from './projection.js'
import type { ReadModelSink } from './sink.js'
import type { RedisWriter } from './sinks/redis-sink.js'

declare const sink: ReadModelSink<RedisWriter>
const Deposited = defineEvent('Deposited', z.object({ amount: z.number() }))
const Opened = defineEvent('Opened', z.object({ owner: z.string() }))

describe('projection typing', () => {
  it('types each handler by its event type and the context by the sink', () => {
    defineProjection({
      name: 'p',
      version: 1,
      handles: [Deposited, Opened],
      sink,
      handlers: {
        Deposited(e, w) {
          expectTypeOf(e.type).toEqualTypeOf<'Deposited'>()
          expectTypeOf(e.data.amount).toEqualTypeOf<number>()
          expectTypeOf(e.streamVersion).toEqualTypeOf<bigint>()
          expectTypeOf(w).toEqualTypeOf<RedisWriter>()
        },
        Opened: (e) => {
          expectTypeOf(e.data.owner).toEqualTypeOf<string>()
        },
      },
      apply(e) {
        if (e.type === 'Deposited') expectTypeOf(e.data).toEqualTypeOf<{ amount: number }>()
      },
    })
  })

  it('rejects a handler for a type that is not handled', () => {
    defineProjection({
      name: 'p',
      version: 1,
      handles: [Deposited],
      sink,
      handlers: {
        // @ts-expect-error Opened is not in handles
        Opened: () => {},
      },
    })
  })

  it('types handlers from a declared union with defineProjectionFor', () => {
    type AccountEvent = Event<'A', { a: number }> | Event<'B', { b: string }> | Event<'C', null>
    const p = defineProjectionFor<AccountEvent>()({
      name: 'p',
      version: 1,
      handles: ['A', 'B'],
      sink,
      handlers: {
        A: (e) => {
          expectTypeOf(e.data.a).toEqualTypeOf<number>()
        },
        B: (e) => {
          expectTypeOf(e.data.b).toEqualTypeOf<string>()
        },
      },
    })
    expectTypeOf(p.handles).toEqualTypeOf<readonly ('A' | 'B')[]>()
    // @ts-expect-error 'D' is not a type of the union
    defineProjectionFor<AccountEvent>()({ name: 'p', version: 1, handles: ['D'], sink, apply: () => {} })
  })

  it('keeps every projection assignable to AnyProjection (runner and config lists)', () => {
    const p = defineProjection({ name: 'p', version: 1, handles: [Deposited], sink, handlers: { Deposited: () => {} } })
    const q = defineProjection({ name: 'q', version: 1, handles: [Deposited], sink, applyBatch: () => {} })
    expectTypeOf([p, q]).toMatchTypeOf<readonly AnyProjection[]>()
  })
})
