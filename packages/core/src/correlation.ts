import type { CommandMetadata } from './command.js'
import type { Event, EventMetadata, RecordedEvent } from './event.js'

/**
 * Metadata for a command issued in reaction to `event` (by a saga, a process manager, a reactor):
 * the correlation id is carried over and the causation id is the event's id. Pass an
 * `idempotencyKey` derived from the event id to make the reaction safe to redeliver.
 * @example
 * await handler.handle(ReserveFunds.create(data, causedBy(event, { idempotencyKey: `reserve:${event.eventId}` })))
 */
export function causedBy(event: RecordedEvent<Event>, extra?: CommandMetadata): CommandMetadata {
  return {
    ...extra,
    correlationId: event.metadata.correlationId ?? event.eventId,
    causationId: event.eventId,
  }
}

/** Keys of {@link CommandMetadata} that are about the command itself and are not copied into events. */
const COMMAND_ONLY_KEYS = new Set(['commandId', 'correlationId', 'causationId', 'idempotencyKey'])

/**
 * The metadata of events produced by a command: the command's own keys, its correlation id and its
 * causation id. A command sent in reaction to an event (see {@link causedBy}) carries that event's
 * id as `causationId`, and its events point at the event, which is stored, so the chain
 * event → command → event can be followed in the store. A command from the edge (HTTP, CLI) has no
 * stored cause: its events get its own `causationId` when the caller gave one (a request id, say),
 * else the command id.
 */
export function eventMetadataFor(metadata: CommandMetadata | undefined, commandId: string): EventMetadata {
  const out: Record<string, unknown> = {}
  if (metadata) {
    for (const [key, value] of Object.entries(metadata)) {
      if (!COMMAND_ONLY_KEYS.has(key) && value !== undefined) out[key] = value
    }
  }
  out.correlationId = metadata?.correlationId ?? commandId
  out.causationId = metadata?.causationId ?? commandId
  return out
}
