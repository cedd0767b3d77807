import type {
  Aggregate,
  AnyAggregate,
  AnyEventDefinition,
  Command,
  EventSource,
  EventsOfSources,
  RecordedEvent,
  Schema,
  StreamId,
} from '@annals/core'
import { InvalidSagaDefinitionError } from './errors.js'

// Shared with the projections, which listen to events the same way.
export type { EventSource, EventsOfSources }

/** What a step's functions see: the saga instance's id and its validated input. */
export type SagaContext<I> = Readonly<{ sagaId: string; input: I }>

/**
 * How a step learns its outcome from events rather than from its command's result (the command was
 * accepted, another service confirms later). Build it with {@link awaitEvents}.
 */
export type StepAwaits = Readonly<{
  success: readonly string[]
  failure: readonly string[]
  /** @internal Definitions among the sources, used to decode events before `sagaId` sees them. */
  definitions: readonly AnyEventDefinition[]
  /** The saga instance an event belongs to, or undefined when it belongs to none. */
  sagaId: (event: RecordedEvent) => string | undefined
  /** The step fails (and compensation starts) when no outcome event arrived this long after it was issued. */
  deadlineMs: number | undefined
}>

const typeOf = (source: EventSource) => (typeof source === 'string' ? source : source.type)
const definitionsOf = (sources: readonly EventSource[]) =>
  sources.filter((s): s is AnyEventDefinition => typeof s !== 'string')

/**
 * Declares that a step is confirmed (or refused) by events, with an optional deadline.
 * @example
 * awaits: awaitEvents({ success: [CreditConfirmed], failure: [CreditRefused], sagaId: (e) => e.data.transferId, deadlineMs: 30_000 })
 */
export function awaitEvents<
  const S extends readonly EventSource[],
  const F extends readonly EventSource[] = readonly [],
>(
  spec: Readonly<{
    success: S
    failure?: F
    sagaId: (event: RecordedEvent<EventsOfSources<S> | EventsOfSources<F>>) => string | undefined
    deadlineMs?: number
  }>,
): StepAwaits {
  const failure = spec.failure ?? ([] as unknown as F)
  return Object.freeze({
    success: Object.freeze(spec.success.map(typeOf)),
    failure: Object.freeze(failure.map(typeOf)),
    definitions: Object.freeze([...definitionsOf(spec.success), ...definitionsOf(failure)]),
    sagaId: spec.sagaId as (event: RecordedEvent) => string | undefined,
    deadlineMs: spec.deadlineMs,
  })
}

/**
 * One step as written: a command, and either its compensating command, `irreversible: true` (its
 * effect cannot be undone, e.g. an email sent: such steps must come last), or neither (nothing to undo).
 */
export type StepInput<I, C extends Command> = Readonly<{
  /** Unique within the saga; recorded in its history (renaming a step breaks running instances). */
  name: string
  /** The aggregate the step's command (and compensation) targets: its commands type-check against it. */
  // biome-ignore lint/suspicious/noExplicitAny: only the command input type matters here
  aggregate: Aggregate<any, any, any, C>
  /** The step's command. Must be a pure function of the context: a re-issue after a crash sends the same one. */
  command: (ctx: SagaContext<I>) => NoInfer<C>
  /** The command that undoes the step; runs (in reverse step order) when a later step fails. */
  compensate?: (ctx: SagaContext<I>) => NoInfer<C>
  /** The step cannot be undone (an email sent): it must come after every step with a compensation. */
  irreversible?: boolean
  /** The target stream, when the aggregate has no `streamId(command)`. */
  streamId?: (ctx: SagaContext<I>) => StreamId
  /** Confirm the step by events (with a deadline) instead of by the command's result. */
  awaits?: StepAwaits
}>

/** One step of a saga, its aggregate type erased (what the engine runs). */
export interface SagaStep<I = unknown> {
  readonly name: string
  readonly aggregate: AnyAggregate
  readonly command: (ctx: SagaContext<I>) => Command
  readonly compensate: ((ctx: SagaContext<I>) => Command) | undefined
  readonly irreversible: boolean
  readonly streamId: ((ctx: SagaContext<I>) => StreamId) | undefined
  readonly awaits: StepAwaits | undefined
}

/**
 * Builds one typed step: `command` and `compensate` must be commands of `aggregate`
 * (`AggregateCommandInputOf<typeof aggregate>`), checked at compile time. (`const` keeps the literal
 * `type` of the returned command while the aggregate's command union is inferred.)
 */
export type StepFactory<I> = <const C extends Command>(step: StepInput<I, C>) => SagaStep<I>

/** Starts a saga when an event appears in the log. Build it with {@link startOn}. */
export type SagaTrigger<In> = Readonly<{
  type: string
  /** @internal */
  definition: AnyEventDefinition | undefined
  /** The instance id; default: the saga's `sagaId(input)`, else the event's id. */
  sagaId: ((event: RecordedEvent) => string) | undefined
  input: (event: RecordedEvent) => In
}>

/**
 * Starts the saga for every event of a type (choreography hands over to orchestration). Starting is
 * idempotent: the same event (or the same saga id) never starts two instances.
 * @example
 * startedBy: [startOn(TransferRequested, { input: (e) => e.data })]
 */
export function startOn<const H extends EventSource, In>(
  source: H,
  spec: Readonly<{
    sagaId?: (event: RecordedEvent<EventsOfSources<readonly [H]>>) => string
    input: (event: RecordedEvent<EventsOfSources<readonly [H]>>) => In
  }>,
): SagaTrigger<In> {
  return Object.freeze({
    type: typeOf(source),
    definition: typeof source === 'string' ? undefined : (source as AnyEventDefinition),
    sagaId: spec.sagaId as ((event: RecordedEvent) => string) | undefined,
    input: spec.input as (event: RecordedEvent) => In,
  })
}

/** An orchestrated saga: ordered steps, each with its command and its compensation. */
export interface SagaDefinition<In = unknown, I = In> {
  readonly kind: 'saga'
  readonly name: string
  /** Validates the input given to `start` (what steps see as `ctx.input`). */
  readonly input: Schema<In, I>
  readonly steps: readonly SagaStep<I>[]
  readonly sagaId: ((input: I) => string) | undefined
  readonly startedBy: readonly SagaTrigger<In>[]
}

/** Any saga definition (for generic plumbing: engines, workers, CLIs). */
// biome-ignore lint/suspicious/noExplicitAny: variance escape for collections of sagas; definitions stay typed
export type AnySagaDefinition = SagaDefinition<any, any>

/** The input type `start` accepts for a saga. */
export type SagaInputOf<S> = S extends SagaDefinition<infer In, infer _I> ? In : never

/** What {@link defineSaga} takes. */
export type SagaDefinitionInput<In, I> = Readonly<{
  /** Lower-case letters, digits, `_`, `-`, `.`; starts with a letter (it is part of stream ids). */
  name: string
  input: Schema<In, I>
  /** The instance id for an input (for example a transfer id); otherwise pass `sagaId` to `start`. */
  sagaId?: (input: I) => string
  /** The steps in order, built with the typed `step` factory. */
  steps: (step: StepFactory<I>) => readonly SagaStep<I>[]
  startedBy?: readonly SagaTrigger<In>[]
}>

const SAGA_NAME = /^[a-z][a-z0-9_.-]{0,62}$/
const STEP_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/

function makeStep<I>(saga: string, input: StepInput<I, Command>): SagaStep<I> {
  const fail = (message: string) => new InvalidSagaDefinitionError(saga, message)
  const stepName: unknown = input.name
  if (typeof stepName !== 'string' || !STEP_NAME.test(stepName)) {
    throw fail(`step name "${String(stepName)}" must be letters, digits, "_", "-" or "." and start with a letter`)
  }
  const aggregate = input.aggregate as Partial<AnyAggregate> | undefined
  if (!aggregate || typeof aggregate.decide !== 'function' || typeof aggregate.commands?.parse !== 'function') {
    throw fail(`step "${input.name}" needs an aggregate made by defineAggregate`)
  }
  if (typeof input.command !== 'function') throw fail(`step "${input.name}" needs a command function`)
  const compensate: unknown = input.compensate
  if (compensate !== undefined && typeof compensate !== 'function') {
    throw fail(`step "${input.name}": compensate must be a function`)
  }
  if (input.irreversible === true && compensate !== undefined) {
    throw fail(`step "${input.name}" is irreversible and has a compensation: choose one`)
  }
  const deadline = input.awaits?.deadlineMs
  if (deadline !== undefined && (!Number.isInteger(deadline) || deadline < 1)) {
    throw fail(`step "${input.name}": deadlineMs must be a positive integer (got ${String(deadline)})`)
  }
  if (input.awaits && input.awaits.success.length === 0) {
    throw fail(`step "${input.name}": awaits needs at least one success event type`)
  }
  return Object.freeze({
    name: input.name,
    aggregate: input.aggregate,
    command: input.command as (ctx: SagaContext<I>) => Command,
    compensate: input.compensate as ((ctx: SagaContext<I>) => Command) | undefined,
    irreversible: input.irreversible === true,
    streamId: input.streamId,
    awaits: input.awaits,
  })
}

/**
 * Defines an orchestrated saga. Validated here: names, unique step names, and that irreversible steps
 * come after every step that has a compensation (an undo after an email was sent cannot unsend it).
 * @example
 * const transfer = defineSaga({
 *   name: 'transfer',
 *   input: z.object({ transferId: z.string(), from: z.string(), to: z.string(), amount: z.number() }),
 *   sagaId: (input) => input.transferId,
 *   steps: (step) => [
 *     step({ name: 'debit', aggregate: Account,
 *       command: ({ input }) => ({ type: 'Withdraw', data: { accountId: input.from, amount: input.amount } }),
 *       compensate: ({ input }) => ({ type: 'Deposit', data: { accountId: input.from, amount: input.amount } }) }),
 *     step({ name: 'credit', aggregate: Account,
 *       command: ({ input }) => ({ type: 'Deposit', data: { accountId: input.to, amount: input.amount } }) }),
 *   ],
 * })
 */
export function defineSaga<In, I>(definition: SagaDefinitionInput<In, I>): SagaDefinition<In, I> {
  const name = definition.name
  if (typeof name !== 'string' || !SAGA_NAME.test(name)) {
    throw new InvalidSagaDefinitionError(
      String(name),
      'name must be lower-case letters, digits, "_", "-" or "." (at most 63, starting with a letter)',
    )
  }
  const fail = (message: string) => new InvalidSagaDefinitionError(name, message)
  if (!definition.input || typeof definition.input['~standard']?.validate !== 'function') {
    throw fail('input must be a schema (zod 4 or any Standard Schema)')
  }
  if (typeof definition.steps !== 'function') throw fail('steps must be a function (step) => [...]')
  const factory = ((input: StepInput<I, Command>) => makeStep<I>(name, input)) as StepFactory<I>
  const steps = definition.steps(factory)
  if (!Array.isArray(steps) || steps.length === 0) throw fail('give at least one step')
  const seen = new Set<string>()
  let firstIrreversible: string | undefined
  for (const step of steps) {
    if (typeof step?.command !== 'function' || typeof step.name !== 'string') {
      throw fail('every step must be built with the step factory passed to steps()')
    }
    if (seen.has(step.name)) throw fail(`step name "${step.name}" is used twice`)
    seen.add(step.name)
    if (step.irreversible) firstIrreversible ??= step.name
    else if (firstIrreversible !== undefined && step.compensate !== undefined) {
      throw fail(
        `step "${step.name}" has a compensation but comes after the irreversible step "${firstIrreversible}": ` +
          'order irreversible steps last',
      )
    }
  }
  const startedBy = definition.startedBy ?? []
  const triggerTypes = new Set<string>()
  for (const trigger of startedBy) {
    if (triggerTypes.has(trigger.type)) throw fail(`startedBy lists "${trigger.type}" twice`)
    triggerTypes.add(trigger.type)
  }
  return Object.freeze({
    kind: 'saga' as const,
    name,
    input: definition.input,
    steps: Object.freeze([...steps]),
    sagaId: definition.sagaId,
    startedBy: Object.freeze([...startedBy]),
  })
}

/** The stream holding one saga instance's history. */
export function sagaStreamId(saga: string, sagaId: string): StreamId {
  return `saga-${saga}-${sagaId}`
}
