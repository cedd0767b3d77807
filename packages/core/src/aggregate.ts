import {
  type AnyCommandDefinition,
  type Command,
  type CommandInputUnionOf,
  type CommandRegistry,
  type CommandUnionOf,
  createCommandRegistry,
} from './command.js'
import { InvalidArgumentError } from './errors.js'
import type { Event, StreamId } from './event.js'
import type { AnyEventDefinition, EventUnionOf } from './event-definition.js'
import { createEventRegistry, type EventRegistry } from './event-registry.js'
import type { SnapshotPolicy } from './snapshot-policy.js'

/**
 * A decider: the pure heart of an aggregate. `decide` turns a command and the current state into
 * new events, and throws a `DomainError` when a business rule forbids the command. `evolve` folds
 * one event into the state; it must not throw for events `decide` produced.
 */
export interface Decider<S, C extends Command, E extends Event> {
  readonly initialState: () => S
  readonly evolve: (state: S, event: E) => S
  /** Returns the new events (none, one or several); throws `DomainError` to reject the command. */
  readonly decide: (command: C, state: S) => E | readonly E[]
}

/**
 * An aggregate: a decider plus what the infrastructure needs to run it — its event and command
 * catalogues, how to find its stream, and how to snapshot its state.
 *
 * `S` is the state, `C` the validated command union, `E` the event union, `CIn` the command union
 * callers send (before validation).
 */
export interface Aggregate<S = unknown, C extends Command = Command, E extends Event = Event, CIn extends Command = C>
  extends Decider<S, C, E> {
  readonly name: string
  readonly events: EventRegistry<E>
  readonly commands: CommandRegistry<C>
  /** Maps a command to its stream; undefined when callers pass the stream id explicitly. */
  readonly streamId: ((command: C) => StreamId) | undefined
  /** Version of the state's shape: bump it when `evolve` or the state type changes, and old snapshots are ignored. */
  readonly stateVersion: number
  readonly snapshot: SnapshotPolicy<S> | undefined
  /** Turns the state into a JSON-serialisable value for a snapshot (identity by default). */
  readonly serializeState: (state: S) => unknown
  /** Inverse of `serializeState` (identity by default). */
  readonly deserializeState: (raw: unknown) => S
  /** Type-level only: the command union callers send. Always undefined at run time. */
  readonly __commandInput?: CIn
}

/** Any aggregate (for generic plumbing). */
// biome-ignore lint/suspicious/noExplicitAny: variance escape for generic plumbing; user code stays typed
export type AnyAggregate = Aggregate<any, any, any, any>

/** The state type of an aggregate. */
export type StateOf<A> = A extends Aggregate<infer S, infer _C, infer _E, infer _CIn> ? S : never
/** The event union of an aggregate. */
export type AggregateEventOf<A> = A extends Aggregate<infer _S, infer _C, infer E, infer _CIn> ? E : never
/** The validated command union of an aggregate. */
export type AggregateCommandOf<A> = A extends Aggregate<infer _S, infer C, infer _E, infer _CIn> ? C : never
/** The command union callers send to an aggregate. */
export type AggregateCommandInputOf<A> = A extends Aggregate<infer _S, infer _C, infer _E, infer CIn> ? CIn : never

/** What {@link defineAggregate} takes. */
export type AggregateDefinition<
  EDefs extends readonly AnyEventDefinition[],
  CDefs extends readonly AnyCommandDefinition[],
  S,
> = Readonly<{
  /** Names the aggregate (in errors, default stream ids, logs). */
  name: string
  events: EDefs
  commands: CDefs
  /** The state type comes from here alone: annotate its return type when the state is a union. */
  initialState: () => S
  // `NoInfer` around the whole function type, not just on `S`: a `NoInfer<S>` return leaves the return
  // expression's contextual type the bare type parameter, so `{ ...state, status: 'open' }` widens to
  // `status: string` and fails against the state. A generic function type is instantiated with the
  // state inferred from `initialState` before the body is checked, so the literal keeps its type.
  evolve: NoInfer<(state: S, event: EventUnionOf<EDefs>) => S>
  /** Return the new events; throw `DomainError` to reject the command. */
  decide: NoInfer<(command: CommandUnionOf<CDefs>, state: S) => EventUnionOf<EDefs> | readonly EventUnionOf<EDefs>[]>
  streamId?: (command: CommandUnionOf<CDefs>) => StreamId
  /** Default 1. */
  stateVersion?: number
  snapshot?: SnapshotPolicy<NoInfer<S>>
  serializeState?: NoInfer<(state: S) => unknown>
  deserializeState?: NoInfer<(raw: unknown) => S>
}>

const identity = <T>(value: T): T => value

/**
 * Defines an aggregate from its event and command definitions and its decider, inferring every
 * type. Snapshotted state must survive a JSON round-trip: provide `serializeState` and
 * `deserializeState` when it holds bigints, dates, maps or class instances.
 * @example
 * const Counter = defineAggregate({
 *   name: 'counter',
 *   events: [Incremented],
 *   commands: [Increment],
 *   initialState: () => ({ count: 0 }),
 *   evolve: (state, event) => ({ count: state.count + event.data.by }),
 *   decide: (command) => Incremented.create({ by: command.data.by }),
 *   streamId: (command) => `counter-${command.data.id}`,
 * })
 */
export function defineAggregate<
  const EDefs extends readonly AnyEventDefinition[],
  const CDefs extends readonly AnyCommandDefinition[],
  S,
>(
  definition: AggregateDefinition<EDefs, CDefs, S>,
): Aggregate<S, CommandUnionOf<CDefs>, EventUnionOf<EDefs>, CommandInputUnionOf<CDefs>> {
  if (typeof definition.name !== 'string' || definition.name.length === 0) {
    throw new InvalidArgumentError('aggregate name', 'must be a non-empty string')
  }
  const stateVersion = definition.stateVersion ?? 1
  if (!Number.isInteger(stateVersion) || stateVersion < 1) {
    throw new InvalidArgumentError('stateVersion', 'must be an integer >= 1')
  }
  return Object.freeze({
    name: definition.name,
    events: createEventRegistry(definition.events, {
      kind: 'aggregate',
      name: definition.name,
      option: 'events',
    }) as EventRegistry<EventUnionOf<EDefs>>,
    commands: createCommandRegistry(definition.commands, definition.name) as CommandRegistry<CommandUnionOf<CDefs>>,
    initialState: definition.initialState,
    evolve: definition.evolve,
    decide: definition.decide,
    streamId: definition.streamId,
    stateVersion,
    snapshot: definition.snapshot,
    serializeState: definition.serializeState ?? identity,
    deserializeState: definition.deserializeState ?? (identity as (raw: unknown) => S),
  })
}

/** Folds events into a state with an aggregate's (or decider's) `evolve`. */
export function foldEvents<S, E extends Event>(
  decider: Pick<Decider<S, Command, E>, 'evolve'>,
  state: S,
  events: Iterable<E>,
): S {
  let current = state
  for (const event of events) current = decider.evolve(current, event)
  return current
}

/** Normalises what `decide` returned into an array. */
export function toEventArray<E extends Event>(result: E | readonly E[]): readonly E[] {
  return Array.isArray(result) ? (result as readonly E[]) : [result as E]
}
