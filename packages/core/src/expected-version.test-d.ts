import { describe, expectTypeOf, it } from 'vitest'
import type { HandleOptions } from './command-handler.js'
import type { AppendOptions, EventStore, StreamAppend } from './event-store.js'

declare const store: EventStore

describe('expected versions are bigints', () => {
  it('accepts bigints and the named expectations', () => {
    void store.appendToStream('s', [], { expectedVersion: 1n })
    void store.appendToStream('s', [], { expectedVersion: 'no-stream' })
    expectTypeOf<{ expectedVersion: 2n }>().toMatchTypeOf<AppendOptions>()
    expectTypeOf<{ expectedVersion: 2n }>().toMatchTypeOf<HandleOptions>()
  })

  it('refuses a number, in every option that takes an expected version', () => {
    // @ts-expect-error a number: write 1n
    void store.appendToStream('s', [], { expectedVersion: 1 })
    // @ts-expect-error a number: write 1n
    void store.appendToStreams([{ streamId: 's', events: [], expectedVersion: 1 }])
    const n = 3 as number
    // @ts-expect-error a number: write BigInt(n)
    const options: HandleOptions = { expectedVersion: n }
    void options
    expectTypeOf<{ streamId: 's'; events: []; expectedVersion: number }>().not.toMatchTypeOf<StreamAppend>()
  })
})
