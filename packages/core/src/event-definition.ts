import { InvalidArgumentError } from './errors.js'
import type { Event, EventMetadata, NewEvent } from './event.js'
import { parseSchema, type Schema } from './schema.js'

/**
 * One schema version of an event type and the step that lifts the previous version to it, as
 * `EventDefinition.versions` lists them (oldest first); built by `defineEvent(...).upcast(...)`.
 */
export type EventSchemaVersion = Readonly<{
  schemaVersion: number
  schema: Schema
  /** Turns the previous version's parsed data into this version's input; absent for version 1. */
  upcastFromPrevious: ((previous: unknown) => unknown) | undefined
}>

/** Options when creating an event value from its definition. */
export type CreateEventOptions = Readonly<{ eventId?: string; metadata?: EventMetadata }>

/**
 * An event type defined once: its `type` name, its current schema and schema version, and the
 * chain of older versions with their upcasters. `In` is what the schema accepts, `Out` the
 * TypeScript type of the event's data (what handlers and `evolve` see).
 *
 * Event data must survive a JSON round-trip (stores keep it as JSON); stored data is re-validated by
 * the schema of its version on read, so a schema may coerce (for example `z.coerce.date()`).
 */
export interface EventDefinition<T extends string = string, In = unknown, Out = In> {
  readonly kind: 'event'
  readonly type: T
  /** The current (newest) schema version: 1 plus the number of `upcast` steps. */
  readonly schemaVersion: number
  /** The current schema. */
  readonly schema: Schema<In, Out>
  /** Type-level only (always undefined): the event type this definition describes. */
  readonly $event?: Event<T, Out>
  /** @internal Every version, oldest first (index = schemaVersion - 1). */
  readonly versions: readonly EventSchemaVersion[]
  /** Builds a validated event value (throws `ValidationError` naming the field). */
  create(data: In, options?: CreateEventOptions): NewEvent<Event<T, Out>>
  /** True when `event` is of this type (narrows). */
  is(event: Event): event is Event<T, Out>
  /**
   * Declares the next schema version: `schema` becomes current, and `step` turns data of the previous
   * (now old) version, as its schema parsed it, into the new schema's input.
   * @example
   * const Deposited = defineEvent('Deposited', z.object({ amount: z.number() }))
   *   .upcast(z.object({ amount: z.number(), currency: z.string() }), (v1) => ({ ...v1, currency: 'EUR' }))
   */
  upcast<NextIn, NextOut>(
    schema: Schema<NextIn, NextOut>,
    step: (previous: Out) => NextIn,
  ): EventDefinition<T, NextIn, NextOut>
}

/** Any event definition (for generic plumbing). */
export type AnyEventDefinition = EventDefinition<string, unknown, unknown>

/**
 * An event a projection or saga listens to: an event definition (decoded, validated, upcast and typed
 * on read) or a bare type name (the stored data passed through as `unknown`).
 */
export type EventSource = AnyEventDefinition | string

/** The event union a list of {@link EventSource}s describes. */
export type EventsOfSources<H extends readonly EventSource[]> = {
  [K in keyof H]: H[K] extends EventDefinition<infer T, infer _In, infer Out>
    ? Event<T, Out>
    : H[K] extends string
      ? Event<H[K], unknown>
      : never
}[number]

/** The event type (`{ type, data }`) an event definition describes. */
export type EventOf<D> = D extends EventDefinition<infer T, infer _In, infer Out> ? Event<T, Out> : never

/**
 * The event union of a list of definitions. Uses an indexed access rather than a conditional type so
 * that literal `type`s returned from `decide` keep their literal types while inference runs.
 */
export type EventUnionOf<Defs extends readonly AnyEventDefinition[]> = NonNullable<Defs[number]['$event']>

/** The data type (current schema output) of an event definition. */
export type EventDataOf<D> = D extends EventDefinition<string, infer _In, infer Out> ? Out : never

function buildDefinition<T extends string, In, Out>(
  type: T,
  versions: readonly EventSchemaVersion[],
): EventDefinition<T, In, Out> {
  const current = versions[versions.length - 1]
  if (!current) throw new InvalidArgumentError('event definition', `"${type}" has no schema`)
  const schema = current.schema as Schema<In, Out>
  const schemaVersion = current.schemaVersion
  return Object.freeze({
    kind: 'event' as const,
    type,
    schemaVersion,
    schema,
    versions,
    create(data: In, options?: CreateEventOptions): NewEvent<Event<T, Out>> {
      const parsed = parseSchema(schema, data, `event "${type}"`)
      return {
        type,
        data: parsed,
        schemaVersion,
        ...(options?.eventId !== undefined ? { eventId: options.eventId } : {}),
        ...(options?.metadata !== undefined ? { metadata: options.metadata } : {}),
      } as NewEvent<Event<T, Out>>
    },
    is(event: Event): event is Event<T, Out> {
      return event.type === type
    },
    upcast<NextIn, NextOut>(
      nextSchema: Schema<NextIn, NextOut>,
      step: (previous: Out) => NextIn,
    ): EventDefinition<T, NextIn, NextOut> {
      return buildDefinition<T, NextIn, NextOut>(type, [
        ...versions,
        {
          schemaVersion: schemaVersion + 1,
          schema: nextSchema as Schema,
          upcastFromPrevious: step as (previous: unknown) => unknown,
        },
      ])
    },
  })
}

/**
 * Defines an event type at schema version 1. Chain `.upcast(schemaV2, v1 => v2Input)` for each later
 * version; the last one is the shape every read yields.
 * @example
 * const CounterIncremented = defineEvent('CounterIncremented', z.object({ by: z.number().int() }))
 */
export function defineEvent<const T extends string, In, Out>(
  type: T,
  schema: Schema<In, Out>,
): EventDefinition<T, In, Out> {
  if (typeof type !== 'string' || type.length === 0) {
    throw new InvalidArgumentError('event type', 'must be a non-empty string')
  }
  return buildDefinition<T, In, Out>(type, [
    { schemaVersion: 1, schema: schema as Schema, upcastFromPrevious: undefined },
  ])
}
