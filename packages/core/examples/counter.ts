// A counter aggregate run through the command handler on the in-memory store, then time travel.
// Run: pnpm exec tsx --conditions=@annals/source packages/core/examples/counter.ts
import {
  causedBy,
  createCommandHandler,
  DomainError,
  defineAggregate,
  defineCommand,
  defineEvent,
  everyNEvents,
  isDomainError,
  loadAggregate,
} from '@annals/core'
import { createInMemoryEventStore, createInMemorySnapshotStore } from '@annals/core/in-memory'
import { z } from 'zod'

// Version 1 stored only `by`; version 2 adds a reason. Old events are upcast on read.
const Incremented = defineEvent('CounterIncremented', z.object({ by: z.number().int() })).upcast(
  z.object({ by: z.number().int(), reason: z.string() }),
  (v1) => ({ ...v1, reason: 'unspecified' }),
)
const Reset = defineEvent('CounterReset', z.object({}))

const Increment = defineCommand(
  'Increment',
  z.object({ counterId: z.string(), by: z.number().int().positive(), reason: z.string().default('manual') }),
)
const ResetCounter = defineCommand('ResetCounter', z.object({ counterId: z.string() }))

type CounterState = { count: number; max: number }

const Counter = defineAggregate({
  name: 'counter',
  events: [Incremented, Reset],
  commands: [Increment, ResetCounter],
  initialState: (): CounterState => ({ count: 0, max: 10 }),
  evolve: (state, event) => {
    switch (event.type) {
      case 'CounterIncremented':
        return { ...state, count: state.count + event.data.by }
      case 'CounterReset':
        return { ...state, count: 0 }
    }
  },
  decide: (command, state) => {
    switch (command.type) {
      case 'Increment':
        if (state.count + command.data.by > state.max) {
          throw new DomainError('COUNTER_OVERFLOW', `counter would exceed ${state.max}`, { count: state.count })
        }
        return Incremented.create({ by: command.data.by, reason: command.data.reason })
      case 'ResetCounter':
        return state.count === 0 ? [] : [Reset.create({})]
    }
  },
  streamId: (command) => `counter-${command.data.counterId}`,
  snapshot: everyNEvents(2),
})

const store = createInMemoryEventStore()
const snapshots = createInMemorySnapshotStore()
const handler = createCommandHandler(Counter, { store, snapshots })

const first = await handler.handle(Increment.create({ counterId: 'a', by: 3 }, { idempotencyKey: 'req-1' }))
console.log('after +3:', first.state, 'version', first.version)
const again = await handler.handle(Increment.create({ counterId: 'a', by: 3 }, { idempotencyKey: 'req-1' }))
console.log('same idempotency key again -> version', again.version, 'replayed', again.replayed)

const reaction = await handler.handle(Increment.create({ counterId: 'a', by: 4 }, causedBy(first.events[0]!)))
console.log('reaction carries correlation', reaction.events[0]?.metadata)

try {
  await handler.handle(Increment.create({ counterId: 'a', by: 5 }))
} catch (error) {
  if (isDomainError(error, 'COUNTER_OVERFLOW')) console.log('refused:', error.code, error.details)
  else throw error
}
await handler.handle(ResetCounter.create({ counterId: 'a' }))
await handler.handle(Increment.create({ counterId: 'a', by: 1 }))

for (const version of [1n, 2n, 3n, 4n]) {
  const past = await loadAggregate(Counter, { store, snapshots }, 'counter-a', { asOf: { version } })
  console.log(`as of version ${version}:`, past.state.count, `(from snapshot ${past.snapshotVersion ?? 'none'})`)
}
console.log(
  'snapshots kept at versions',
  snapshots.list('counter-a').map((s) => s.streamVersion),
)
