import { createEventRegistry, type EventRegistry, type RecordedEvent } from '@annals/core'

type Definitions = readonly Parameters<typeof createEventRegistry>[0][number][]

/**
 * Decodes (validates, upcasts) an event with the definitions its consumer declared, when it declared
 * any for the event's type; otherwise the event is passed as read. @internal
 */
export type EventDecoder = (owner: object, definitions: Definitions, event: RecordedEvent) => RecordedEvent

/** One registry per owner (a step's `awaits`, a trigger), built on first use. @internal */
export function createEventDecoder(): EventDecoder {
  const registries = new Map<object, EventRegistry>()
  return (owner, definitions, event) => {
    if (definitions.length === 0) return event
    let registry = registries.get(owner)
    if (!registry) {
      registry = createEventRegistry(definitions)
      registries.set(owner, registry)
    }
    return registry.has(event.type) ? registry.decode(event) : event
  }
}
