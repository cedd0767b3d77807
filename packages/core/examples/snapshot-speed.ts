// How much snapshots shorten loading a long stream (in-memory store, so this measures core's own cost:
// schema validation, upcasting and folding). Run:
// pnpm exec tsx --conditions=@annals/source packages/core/examples/snapshot-speed.ts
import { performance } from 'node:perf_hooks'
import {
  createCommandHandler,
  defineAggregate,
  defineCommand,
  defineEvent,
  everyNEvents,
  loadAggregate,
  type SnapshotPolicy,
} from '@annals/core'
import { createInMemoryEventStore, createInMemorySnapshotStore } from '@annals/core/in-memory'
import { z } from 'zod'

const Added = defineEvent('Added', z.object({ n: z.number().int() }))
const Add = defineCommand('Add', z.object({ id: z.string(), n: z.number().int() }))
const aggregate = (snapshot?: SnapshotPolicy) =>
  defineAggregate({
    name: 'sum',
    events: [Added],
    commands: [Add],
    initialState: () => ({ total: 0 }),
    evolve: (state, event) => ({ total: state.total + event.data.n }),
    decide: (command) => Added.create({ n: command.data.n }),
    streamId: (command) => `sum-${command.data.id}`,
    ...(snapshot ? { snapshot } : {}),
  })

const events = 20_000
const store = createInMemoryEventStore()
const snapshots = createInMemorySnapshotStore()
const withSnapshots = aggregate(everyNEvents(100))
const handler = createCommandHandler(withSnapshots, { store, snapshots })

// Every event goes through the handler, so a snapshot is saved every 100 events.
let start = performance.now()
for (let i = 0; i < events; i++) await handler.handle(Add.create({ id: 'x', n: 1 }))
const perCommand = (performance.now() - start) / events

const time = async (label: string, run: () => Promise<unknown>, repeat = 20) => {
  await run()
  start = performance.now()
  for (let i = 0; i < repeat; i++) await run()
  console.log(`${label}: ${((performance.now() - start) / repeat).toFixed(2)} ms`)
}
console.log(
  `command handler (load from snapshot + decide + append + snapshot policy): ${perCommand.toFixed(3)} ms/command`,
)
await time(`full replay of ${events} events`, () => loadAggregate(aggregate(), { store }, 'sum-x'))
await time('load from the newest snapshot (at the head)', () =>
  loadAggregate(withSnapshots, { store, snapshots }, 'sum-x'),
)
await time('time travel to version 12_345 (snapshot 12_300 + 45 events)', () =>
  loadAggregate(withSnapshots, { store, snapshots }, 'sum-x', { asOf: { version: 12_345n } }),
)
