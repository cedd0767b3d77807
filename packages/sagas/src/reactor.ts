import {
  type AggregateCommandInputOf,
  type AggregateEventOf,
  type AnyAggregate,
  type AnyEventDefinition,
  type CommandHandler,
  type CommandResult,
  causedBy,
  createEventRegistry,
  type Event,
  type EventStore,
  type IdempotencyStore,
  type RecordedEvent,
  type RetryPolicy,
  type SnapshotStore,
  type StateOf,
  type StreamId,
} from '@annals/core'
import { commandHandlersByAggregate } from './command-handlers.js'
import { InvalidSagaDefinitionError } from './errors.js'
import type { EventSource, EventsOfSources } from './saga-definition.js'

/** Per-command options of {@link ReactorContext.send}. */
export type ReactorSendOptions = Readonly<{
  /**
   * Names this command within the reaction (default: its position among the reaction's sends). Give one
   * when which commands a reaction sends depends on anything but the event.
   */
  key?: string
  /** The target stream, when the aggregate has no `streamId(command)`. */
  streamId?: StreamId
}>

/** What a reaction uses to act: `send` issues a command whose idempotency key derives from the triggering event. */
export type ReactorContext = Readonly<{
  /**
   * Sends a command through the aggregate's command handler with idempotency key
   * `reactor:<name>:<event id>:<key>` and the event as its cause, so a redelivered event changes nothing.
   * Throws what the handler throws (a `DomainError` when the aggregate refuses).
   */
  send<A extends AnyAggregate>(
    aggregate: A,
    command: AggregateCommandInputOf<A>,
    options?: ReactorSendOptions,
  ): Promise<CommandResult<StateOf<A>, AggregateEventOf<A>>>
}>

/** A choreography reactor: reacts to events of some types by sending commands. */
export interface Reactor<E extends Event = Event> {
  readonly kind: 'reactor'
  readonly name: string
  /** The event type names it reacts to. */
  readonly handles: readonly E['type'][]
  /** @internal Definitions among `handles`, used to decode events. */
  readonly definitions: readonly AnyEventDefinition[]
  readonly react: (event: RecordedEvent<E>, ctx: ReactorContext) => void | Promise<void>
}

/** A reactor of any events (for collections). */
// biome-ignore lint/suspicious/noExplicitAny: variance escape for collections of reactors
export type AnyReactor = Reactor<any>

const REACTOR_NAME = /^[a-z][a-z0-9_.-]{0,39}$/

/**
 * Defines a reactor. Reactions must be deterministic in which commands they send: the idempotency
 * key of each is derived from the event id and its position (or `key`).
 * @example
 * const refundOnBounce = defineReactor({
 *   name: 'refund-on-bounce',
 *   handles: [PaymentBounced],
 *   react: (event, { send }) => send(Account, { type: 'Deposit', data: { accountId: event.data.accountId, amount: event.data.amount } }),
 * })
 */
export function defineReactor<const H extends readonly EventSource[]>(
  input: Readonly<{
    /** Lower-case letters, digits, `_`, `-`, `.`; starts with a letter (also its checkpoint's name). */
    name: string
    handles: H
    react: (event: RecordedEvent<EventsOfSources<H>>, ctx: ReactorContext) => void | Promise<void>
  }>,
): Reactor<EventsOfSources<H>> {
  type E = EventsOfSources<H>
  if (typeof input.name !== 'string' || !REACTOR_NAME.test(input.name)) {
    throw new InvalidSagaDefinitionError(
      String(input.name),
      'reactor name must be lower-case letters, digits, "_", "-" or "." (at most 40, starting with a letter)',
    )
  }
  if (!Array.isArray(input.handles) || input.handles.length === 0) {
    throw new InvalidSagaDefinitionError(input.name, 'a reactor handles at least one event type')
  }
  if (typeof input.react !== 'function') throw new InvalidSagaDefinitionError(input.name, 'react must be a function')
  const types = input.handles.map((h) => (typeof h === 'string' ? h : h.type)) as E['type'][]
  if (new Set(types).size !== types.length) {
    throw new InvalidSagaDefinitionError(input.name, 'handles lists an event type twice')
  }
  return Object.freeze({
    kind: 'reactor' as const,
    name: input.name,
    handles: Object.freeze(types),
    definitions: Object.freeze(input.handles.filter((h): h is AnyEventDefinition => typeof h !== 'string')),
    react: input.react,
  })
}

/** What a reactor needs to send commands. */
export type ReactorHandlerOptions = Readonly<{
  store: EventStore
  idempotency?: IdempotencyStore
  snapshots?: SnapshotStore
  retry?: RetryPolicy
}>

/** The idempotency key of the `key`-th command a reactor sends for an event. */
export function reactionKey(reactor: string, eventId: string, key: string): string {
  return `reactor:${reactor}:${eventId}:${key}`
}

/**
 * Turns a reactor into a function of one recorded event, for any subscription: the Postgres worker
 * (`createReactorProjection` in `@annals/sagas/postgres`) or a test loop over an in-memory log.
 * Events of other types are ignored.
 */
export function createReactorHandler(
  reactor: AnyReactor,
  options: ReactorHandlerOptions,
): (event: RecordedEvent) => Promise<void> {
  const registry = reactor.definitions.length > 0 ? createEventRegistry(reactor.definitions) : null
  const handles = new Set<string>(reactor.handles)
  const handlerFor = commandHandlersByAggregate(options)
  return async (event: RecordedEvent) => {
    if (!handles.has(event.type)) return
    const typed = registry?.has(event.type) ? registry.decode(event) : event
    let position = 0
    const ctx: ReactorContext = {
      async send(aggregate, command, sendOptions) {
        const key = sendOptions?.key ?? String(position)
        position++
        const handler = handlerFor(aggregate) as unknown as CommandHandler<unknown, never, never, typeof command>
        const result = await handler.handle(
          {
            ...command,
            metadata: causedBy(event, {
              ...command.metadata,
              idempotencyKey: reactionKey(reactor.name, event.eventId, key),
              reactor: reactor.name,
            }),
          },
          sendOptions?.streamId ? { streamId: sendOptions.streamId } : undefined,
        )
        return result as never
      },
    }
    await reactor.react(typed, ctx)
  }
}
