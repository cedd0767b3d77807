import {
  type AnyEventDefinition,
  createEventRegistry,
  type Event,
  type EventRegistry,
  type EventSource,
  type EventsOfSources,
  type RecordedEvent,
} from '@annals/core'
import { DuplicateProjectionError, InvalidProjectionDefinitionError } from './errors.js'
import type { ReadModelSink } from './sink.js'

/** What `handles` accepts: an event definition (typed, validated and upcast on read) or a bare type name. */
export type HandledType = EventSource

/** The event union a `handles` list describes. */
export type HandledEvents<H extends readonly HandledType[]> = EventsOfSources<H>

/** One handler per event type, each typed by its type (a handler for a type not handled is an error). */
export type ProjectionHandlers<E extends Event, Ctx> = {
  readonly [T in E['type']]?: (event: RecordedEvent<Extract<E, { type: T }>>, ctx: Ctx) => void | Promise<void>
}

/** The input of {@link defineProjection}. Give `handlers` (per type), `apply` (one function with a `switch`), or both. */
export type ProjectionInput<H extends readonly HandledType[], Ctx> = Readonly<{
  /** Unique name: lower-case letters, digits, `_`, `-`, `.` (it becomes a key segment). */
  name: string
  /** A positive integer. Bumping it means "rebuild me": a new generation is built beside the live one. */
  version: number
  /** The event types this projection reads (the store filters on them). */
  handles: H
  handlers?: ProjectionHandlers<HandledEvents<H>, Ctx>
  apply?: (event: RecordedEvent<HandledEvents<H>>, ctx: Ctx) => void | Promise<void>
  /**
   * Handles a whole batch at once (e.g. one multi-row upsert): much faster for SQL sinks. When it
   * throws, the runner retries the batch one event at a time (through `applyBatch([event])`) to find
   * and park the failing event. Used instead of `handlers`/`apply`, not with them.
   */
  applyBatch?: (events: readonly RecordedEvent<HandledEvents<H>>[], ctx: Ctx) => void | Promise<void>
  sink: ReadModelSink<Ctx>
  /**
   * Splits the projection into this many partitions by stream id (see `partitionOf`): each has its
   * own checkpoint and lease, and the workers running the projection share them out. Absent: one
   * lease and one checkpoint, as before. Changing it is a rebuild (a new generation), like a version.
   */
  partitions?: number
}>

/** A projection: a named, versioned set of handlers over some event types, writing into one sink. */
export interface Projection<E extends Event = Event, Ctx = unknown> {
  readonly name: string
  readonly version: number
  /** The event type names handled (passed to `readAll({ types })`). */
  readonly handles: readonly E['type'][]
  readonly sink: ReadModelSink<Ctx>
  /** The number of partitions (absent: unpartitioned). */
  readonly partitions?: number
  /** Decodes (when definitions were given) and dispatches one event to its handler(s). */
  handle(event: RecordedEvent, ctx: Ctx): Promise<void>
  /** Present when the projection handles whole batches (`applyBatch`). */
  handleBatch?(events: readonly RecordedEvent[], ctx: Ctx): Promise<void>
}

/** A projection of any event and context (for generic plumbing: runners, CLIs, configs). */
// biome-ignore lint/suspicious/noExplicitAny: the context type is erased on purpose in collections of projections
export type AnyProjection = Projection<Event, any>

const PROJECTION_NAME = /^[a-z][a-z0-9_.-]{0,62}$/

/**
 * Defines a projection. Handlers are typed by event type from `handles`.
 * @example
 * const balances = defineProjection({
 *   name: 'balances', version: 1, handles: [AccountOpened, MoneyDeposited], sink: createRedisSink({ redis }),
 *   handlers: {
 *     AccountOpened: (e, w) => w.hset(e.streamId, { balance: '0' }),
 *     MoneyDeposited: (e, w) => w.hincrby(e.streamId, 'balance', e.data.amount),
 *   },
 * })
 */
export function defineProjection<const H extends readonly HandledType[], Ctx>(
  input: ProjectionInput<H, Ctx>,
): Projection<HandledEvents<H>, Ctx> {
  type E = HandledEvents<H>
  const { name, version, handles, handlers, apply, applyBatch, sink, partitions } = input
  if (!PROJECTION_NAME.test(name)) {
    throw new InvalidProjectionDefinitionError(
      name,
      'name must be lower-case letters, digits, "_", "-" or "." (at most 63, starting with a letter)',
    )
  }
  if (!Number.isInteger(version) || version < 1) {
    throw new InvalidProjectionDefinitionError(name, `version must be an integer >= 1 (got ${String(version)})`)
  }
  if (handles.length === 0) throw new InvalidProjectionDefinitionError(name, 'handles must list at least one type')
  if (!handlers && !apply && !applyBatch) throw new InvalidProjectionDefinitionError(name, 'give handlers or apply')
  if (applyBatch && (handlers || apply)) {
    throw new InvalidProjectionDefinitionError(name, 'give applyBatch alone, not with handlers or apply')
  }
  if (!sink) throw new InvalidProjectionDefinitionError(name, 'sink is required')
  if (partitions !== undefined && (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024)) {
    throw new InvalidProjectionDefinitionError(
      name,
      `partitions must be an integer from 1 to 1024 (got ${String(partitions)})`,
    )
  }
  const definitions = handles.filter((h): h is AnyEventDefinition => typeof h !== 'string')
  const types = handles.map((h) => (typeof h === 'string' ? h : h.type)) as E['type'][]
  if (new Set(types).size !== types.length)
    throw new InvalidProjectionDefinitionError(name, 'handles lists a type twice')
  const typeSet = new Set<string>(types)
  for (const key of Object.keys(handlers ?? {})) {
    if (!typeSet.has(key))
      throw new InvalidProjectionDefinitionError(name, `handler for "${key}" which is not in handles`)
  }
  const registry: EventRegistry | null = definitions.length > 0 ? createEventRegistry(definitions) : null
  const table = (handlers ?? {}) as Record<
    string,
    ((event: RecordedEvent, ctx: Ctx) => void | Promise<void>) | undefined
  >
  const applyAll = apply as ((event: RecordedEvent, ctx: Ctx) => void | Promise<void>) | undefined
  // Only definitions are decoded (validated, upcast); bare type names pass the stored data through.
  const decode = (event: RecordedEvent) => (registry?.has(event.type) ? registry.decode(event) : event)
  const batch = applyBatch as ((events: readonly RecordedEvent[], ctx: Ctx) => void | Promise<void>) | undefined
  const identity = {
    name,
    version,
    handles: Object.freeze(types),
    sink,
    ...(partitions === undefined ? {} : { partitions }),
  }
  if (batch) {
    return Object.freeze({
      ...identity,
      async handle(event: RecordedEvent, ctx: Ctx): Promise<void> {
        await batch([decode(event)], ctx)
      },
      async handleBatch(events: readonly RecordedEvent[], ctx: Ctx): Promise<void> {
        await batch(events.map(decode), ctx)
      },
    })
  }
  return Object.freeze({
    ...identity,
    async handle(event: RecordedEvent, ctx: Ctx): Promise<void> {
      const typed = decode(event)
      const handler = table[typed.type]
      if (handler) await handler(typed, ctx)
      if (applyAll) await applyAll(typed, ctx)
    },
  })
}

/**
 * Like {@link defineProjection} for an event union declared as a type (no event definitions at hand):
 * `handles` lists type names of `E` and handlers see each member of `E` by its `type`.
 * @example
 * const p = defineProjectionFor<AccountEvent>()({ name: 'x', version: 1, handles: ['AccountOpened'], sink, handlers })
 */
export function defineProjectionFor<E extends Event>() {
  return <const T extends E['type'], Ctx>(
    input: Omit<ProjectionInput<readonly T[], Ctx>, 'handlers' | 'apply'> &
      Readonly<{
        handlers?: ProjectionHandlers<Extract<E, { type: T }>, Ctx>
        apply?: (event: RecordedEvent<Extract<E, { type: T }>>, ctx: Ctx) => void | Promise<void>
      }>,
  ): Projection<Extract<E, { type: T }>, Ctx> =>
    defineProjection(input as unknown as ProjectionInput<readonly T[], Ctx>) as unknown as Projection<
      Extract<E, { type: T }>,
      Ctx
    >
}

/** @internal Throws on two projections with one name; returns them by name. */
export function indexProjections<P extends { readonly name: string }>(projections: readonly P[]): Map<string, P> {
  const byName = new Map<string, P>()
  for (const p of projections) {
    if (byName.has(p.name)) throw new DuplicateProjectionError(p.name)
    byName.set(p.name, p)
  }
  return byName
}
