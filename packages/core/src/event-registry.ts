import { definitionsByType } from './definitions-by-type.js'
import {
  type AnnalsError,
  type EventRegistryOwner,
  isAnnalsError,
  UnknownEventTypeError,
  UnsupportedSchemaVersionError,
  ValidationError,
} from './errors.js'
import type { Event, NewEvent, RecordedEvent } from './event.js'
import type { AnyEventDefinition, EventUnionOf } from './event-definition.js'
import { validateSchema } from './schema.js'

/** Result of {@link EventRegistry.safeDecode}. */
export type DecodeResult<E extends Event> =
  | Readonly<{ success: true; event: RecordedEvent<E> }>
  | Readonly<{ success: false; error: AnnalsError }>

/**
 * The catalogue of an application's (or an aggregate's) event types: validates outgoing event data
 * and upcasts stored events into the latest, typed shape.
 */
export interface EventRegistry<E extends Event = Event> {
  /** The known event types. */
  readonly types: readonly E['type'][]
  /** True when `type` is known (narrows). */
  has(type: string): type is E['type']
  /** The current schema version of `type`; throws `ANNALS_ERR_UNKNOWN_EVENT_TYPE` for an unknown type. */
  schemaVersionOf(type: string): number
  /**
   * Validates an event about to be appended and returns it with parsed data and its schema version
   * (the current one unless `schemaVersion` says otherwise). Throws `ValidationError` naming the field.
   */
  encode<X extends E>(event: NewEvent<X>): NewEvent<X> & Readonly<{ schemaVersion: number }>
  /**
   * Turns a stored event into the latest shape of its type: validates its data with the schema of its
   * version, then runs every upcaster up to the current version. Throws `ANNALS_ERR_UNKNOWN_EVENT_TYPE`,
   * `ANNALS_ERR_UNSUPPORTED_SCHEMA_VERSION` or `ANNALS_ERR_VALIDATION`. The result has the current
   * `schemaVersion`; the envelope is unchanged.
   */
  decode(event: RecordedEvent): RecordedEvent<E>
  /** Like {@link EventRegistry.decode} but returns the error instead of throwing. */
  safeDecode(event: RecordedEvent): DecodeResult<E>
  /** Upcasts raw data of `type` at `schemaVersion` to the current shape (the core of `decode`). */
  upcast(type: string, schemaVersion: number, data: unknown, location?: string): E
}

/** The union of event types a list of definitions describes. */
export type EventsOf<Defs extends readonly AnyEventDefinition[]> = EventUnionOf<Defs>

/**
 * Builds a registry from event definitions. Type names must be unique. `owner` names who declared
 * them (`defineAggregate` passes the aggregate and its `events`), for the unknown-type error.
 * @example
 * const events = createEventRegistry([AccountOpened, MoneyDeposited])
 * const typed = events.decode(recorded) // RecordedEvent<AccountOpened | MoneyDeposited>
 */
export function createEventRegistry<const Defs extends readonly AnyEventDefinition[]>(
  definitions: Defs,
  owner?: EventRegistryOwner,
): EventRegistry<EventsOf<Defs>> {
  type E = EventsOf<Defs>
  const byType = definitionsByType<AnyEventDefinition>(definitions, 'event')
  const types = Object.freeze([...byType.keys()]) as readonly E['type'][]

  function definitionOf(type: string, location?: string): AnyEventDefinition {
    const definition = byType.get(type)
    if (!definition) throw new UnknownEventTypeError(type, location, owner)
    return definition
  }

  function upcast(type: string, schemaVersion: number, data: unknown, location?: string): E {
    const definition = definitionOf(type, location)
    if (!Number.isInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > definition.schemaVersion) {
      throw new UnsupportedSchemaVersionError(type, schemaVersion, definition.schemaVersion, location)
    }
    let value: unknown = data
    for (let index = schemaVersion - 1; index < definition.versions.length; index++) {
      const version = definition.versions[index]
      if (!version) break
      // The stored version's data is validated as it was written; later versions validate the upcaster's output.
      if (index > schemaVersion - 1 && version.upcastFromPrevious) value = version.upcastFromPrevious(value)
      const subject = `event "${type}" v${version.schemaVersion}${location ? ` (${location})` : ''}`
      const result = validateSchema(version.schema, value, subject)
      if (!result.success) throw new ValidationError(subject, result.issues)
      value = result.value
    }
    return { type, data: value } as E
  }

  function decode(event: RecordedEvent): RecordedEvent<E> {
    const location = `stream "${event.streamId}" version ${event.streamVersion.toString()}`
    const latest = upcast(event.type, event.schemaVersion, event.data, location)
    return { ...event, data: latest.data, schemaVersion: definitionOf(event.type).schemaVersion } as RecordedEvent<E>
  }

  return Object.freeze({
    types,
    has(type: string): type is E['type'] {
      return byType.has(type)
    },
    schemaVersionOf(type: string): number {
      return definitionOf(type).schemaVersion
    },
    encode<X extends E>(event: NewEvent<X>): NewEvent<X> & Readonly<{ schemaVersion: number }> {
      const definition = definitionOf(event.type)
      const schemaVersion = event.schemaVersion ?? definition.schemaVersion
      const version = definition.versions[schemaVersion - 1]
      if (!version) throw new UnsupportedSchemaVersionError(event.type, schemaVersion, definition.schemaVersion)
      const subject = `event "${event.type}"`
      const result = validateSchema(version.schema, event.data, subject)
      if (!result.success) throw new ValidationError(subject, result.issues)
      return { ...event, data: result.value, schemaVersion } as NewEvent<X> & Readonly<{ schemaVersion: number }>
    },
    decode,
    safeDecode(event: RecordedEvent): DecodeResult<E> {
      try {
        return { success: true, event: decode(event) }
      } catch (error) {
        if (isAnnalsError(error)) return { success: false, error }
        throw error
      }
    },
    upcast,
  })
}
