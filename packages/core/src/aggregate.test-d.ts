import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { defineAggregate, type StateOf } from './aggregate.js'
import { defineCommand } from './command.js'
import { type CommandHandlerOf, createCommandHandler } from './command-handler.js'
import { isDomainError } from './errors.js'
import type { Event, RecordedEvent } from './event.js'
import { defineEvent, type EventOf } from './event-definition.js'
import { createEventRegistry } from './event-registry.js'
import { createInMemoryEventStore } from './in-memory/in-memory-event-store.js'
import type { loadAggregate } from './load-aggregate.js'
import { deciderSpec } from './testing/decider-spec.js'

const Added = defineEvent('Added', z.object({ n: z.number() }))
const Renamed = defineEvent('Renamed', z.object({ name: z.string() }))
const Add = defineCommand('Add', z.object({ id: z.string(), n: z.number() }))
const Rename = defineCommand('Rename', z.object({ id: z.string(), name: z.string().default('x') }))
type State = { total: number; name: string }

describe('defineAggregate inference', () => {
  it('types evolve and decide from the definitions, with no casts', () => {
    const Thing = defineAggregate({
      name: 'thing',
      events: [Added, Renamed],
      commands: [Add, Rename],
      initialState: (): State => ({ total: 0, name: '' }),
      evolve: (state, event) => {
        expectTypeOf(event).toEqualTypeOf<
          Readonly<{ type: 'Added'; data: { n: number } }> | Readonly<{ type: 'Renamed'; data: { name: string } }>
        >()
        switch (event.type) {
          case 'Added':
            expectTypeOf(event.data).toEqualTypeOf<{ n: number }>()
            return { ...state, total: state.total + event.data.n }
          case 'Renamed':
            return { ...state, name: event.data.name }
        }
      },
      decide: (command, state) => {
        expectTypeOf(state).toEqualTypeOf<State>()
        if (command.type === 'Rename') {
          // The validated command has the schema's output: defaults are filled in.
          expectTypeOf(command.data.name).toEqualTypeOf<string>()
          return [{ type: 'Renamed', data: { name: command.data.name } }]
        }
        return Added.create({ n: command.data.n })
      },
      streamId: (command) => `thing-${command.data.id}`,
    })
    const handler = createCommandHandler(Thing, { store: createInMemoryEventStore() })
    expectTypeOf(handler).toEqualTypeOf<CommandHandlerOf<typeof Thing>>()
    expectTypeOf(handler.handle).parameter(0).toEqualTypeOf<
      | Readonly<{ type: 'Add'; data: { id: string; n: number }; metadata?: import('./command.js').CommandMetadata }>
      | Readonly<{
          type: 'Rename'
          data: { id: string; name?: string | undefined }
          metadata?: import('./command.js').CommandMetadata
        }>
    >()
    expectTypeOf<Awaited<ReturnType<typeof handler.handle>>['state']>().toEqualTypeOf<State>()
    expectTypeOf<Awaited<ReturnType<typeof handler.handle>>['events'][number]>().toEqualTypeOf<
      RecordedEvent<EventOf<typeof Added> | EventOf<typeof Renamed>>
    >()
    expectTypeOf<
      Awaited<ReturnType<typeof loadAggregate<State, never, EventOf<typeof Added>, never>>>['state']
    >().toEqualTypeOf<State>()

    // A command missing a field does not compile.
    // @ts-expect-error `n` is missing
    void handler.handle({ type: 'Add', data: { id: 'a' } })
    // @ts-expect-error `n` is missing
    void handler.handle(Add.create({ id: 'a' }))
    // An unknown command type does not compile.
    // @ts-expect-error `Delete` is not a command of this aggregate
    void handler.handle({ type: 'Delete', data: { id: 'a' } })
    // A field of the wrong type does not compile.
    // @ts-expect-error `n` must be a number
    void handler.handle({ type: 'Add', data: { id: 'a', n: '1' } })
    // Defaults make a field optional for callers.
    void handler.handle({ type: 'Rename', data: { id: 'a' } })
  })

  it('rejects a wrong event payload returned by decide', () => {
    defineAggregate({
      name: 'bad-payload',
      events: [Added],
      commands: [Add],
      initialState: () => ({ total: 0 }),
      evolve: (state) => state,
      // @ts-expect-error `n` must be a number
      decide: () => ({ type: 'Added', data: { n: 'one' } }),
    })
    // @ts-expect-error `n` must be a number
    Added.create({ n: 'one' })
  })

  it('rejects an unknown event type returned by decide', () => {
    defineAggregate({
      name: 'bad-type',
      events: [Added],
      commands: [Add],
      initialState: () => ({ total: 0 }),
      evolve: (state) => state,
      // @ts-expect-error `Removed` is not an event of this aggregate
      decide: () => [{ type: 'Removed', data: { n: 1 } }],
    })
  })

  it('rejects evolve branches on unknown event types and wrong state', () => {
    defineAggregate({
      name: 'bad-evolve',
      events: [Added],
      commands: [Add],
      initialState: (): State => ({ total: 0, name: '' }),
      evolve: (state, event) => {
        // @ts-expect-error `Removed` is not an event of this aggregate
        if (event.type === 'Removed') return state
        return state
      },
      decide: () => [],
    })
    defineAggregate({
      name: 'bad-state',
      events: [Added],
      commands: [Add],
      initialState: (): State => ({ total: 0, name: '' }),
      // @ts-expect-error evolve must return the state type
      evolve: () => ({ total: 'zero' }),
      decide: () => [],
    })
  })
})

describe('state inferred from an annotated initialState', () => {
  const Opened = defineEvent('Opened', z.object({ owner: z.string() }))
  type Account =
    | { status: 'none' }
    | { status: 'open'; owner: string; total: number }
    | { status: 'frozen'; total: number }

  it('keeps the literals of an evolve returning a spread of the state, and types decide with the same state', () => {
    const Acc = defineAggregate({
      name: 'acc',
      events: [Opened, Added],
      commands: [Add],
      initialState: (): Account => ({ status: 'none' }),
      evolve: (state, event) => {
        expectTypeOf(state).toEqualTypeOf<Account>()
        if (event.type === 'Opened') return { status: 'open', owner: event.data.owner, total: 0 }
        return state.status === 'none' ? state : { ...state, status: 'frozen', total: state.total + event.data.n }
      },
      decide: (_command, state) => {
        expectTypeOf(state).toEqualTypeOf<Account>()
        return []
      },
      deserializeState: (raw) => ({ ...(raw as Account), status: 'none' }),
    })
    expectTypeOf<StateOf<typeof Acc>>().toEqualTypeOf<Account>()

    type Flags = { mode: 'a' | 'b'; count: number }
    const Flagged = defineAggregate({
      name: 'flagged',
      events: [Added],
      commands: [Add],
      initialState: (): Flags => ({ mode: 'a', count: 0 }),
      evolve: (state, event) => ({ ...state, mode: 'b', count: state.count + event.data.n }),
      decide: () => [],
    })
    expectTypeOf<StateOf<typeof Flagged>>().toEqualTypeOf<Flags>()
  })

  it('still checks evolve against that state (not widened to what evolve returns)', () => {
    defineAggregate({
      name: 'acc-bad',
      events: [Added],
      commands: [Add],
      initialState: (): Account => ({ status: 'none' }),
      // @ts-expect-error `closed` is not a status of the state
      evolve: (state) => ({ ...state, status: 'closed' }),
      decide: () => [],
    })
  })

  it('infers the state from an unannotated initialState, widened as usual', () => {
    const Counter = defineAggregate({
      name: 'counter',
      events: [Added],
      commands: [Add],
      initialState: () => ({ total: 0, items: [] as string[] }),
      evolve: (state, event) => ({ total: state.total + event.data.n, items: [...state.items, 'x'] }),
      decide: () => [],
    })
    expectTypeOf<StateOf<typeof Counter>>().toEqualTypeOf<{ total: number; items: string[] }>()
  })
})

describe('upcasters', () => {
  it('type each step: input is the previous version, output is the next version input', () => {
    const V = defineEvent('V', z.object({ a: z.number() }))
      .upcast(z.object({ a: z.number(), b: z.string() }), (v1) => {
        expectTypeOf(v1).toEqualTypeOf<{ a: number }>()
        return { ...v1, b: 'x' }
      })
      .upcast(z.object({ total: z.number() }), (v2) => {
        expectTypeOf(v2).toEqualTypeOf<{ a: number; b: string }>()
        return { total: v2.a }
      })
    expectTypeOf<EventOf<typeof V>>().toEqualTypeOf<Event<'V', { total: number }>>()
    // @ts-expect-error the step must produce the next version's input
    defineEvent('W', z.object({ a: z.number() })).upcast(z.object({ b: z.string() }), (v1) => ({ b: v1.a }))
  })

  it('registries decode to the union of the latest shapes', () => {
    const registry = createEventRegistry([Added, Renamed])
    expectTypeOf(registry.decode).returns.toEqualTypeOf<
      RecordedEvent<EventOf<typeof Added> | EventOf<typeof Renamed>>
    >()
  })
})

describe('domain errors and specs', () => {
  it('narrow DomainError by code', () => {
    const error: unknown = null
    if (isDomainError(error, 'OUT_OF_STOCK')) expectTypeOf(error.code).toEqualTypeOf<'OUT_OF_STOCK'>()
  })

  it('type given/when/then by the aggregate', () => {
    const Counter = defineAggregate({
      name: 'c',
      events: [Added],
      commands: [Add],
      initialState: () => ({ total: 0 }),
      evolve: (state, event) => ({ total: state.total + event.data.n }),
      decide: (command) => Added.create({ n: command.data.n }),
    })
    const spec = deciderSpec(Counter)
    // @ts-expect-error `Renamed` is not an event of this aggregate
    spec.given([{ type: 'Renamed', data: { name: 'x' } }])
    // @ts-expect-error `n` is missing
    spec.given([]).when({ type: 'Add', data: { id: 'a' } })
    spec
      .given([{ type: 'Added', data: { n: 1 } }])
      .when(Add.create({ id: 'a', n: 1 }))
      .then([{ type: 'Added', data: { n: 1 } }])
  })
})
