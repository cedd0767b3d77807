import { deterministicId } from '@annals/core'

/**
 * The one message-id rule of the outbox: message `index` of the `count` messages one event yields.
 * A single message takes the event id itself; several take name-based UUIDs of the event id and the
 * index, so that each is stable (the same append always gives the same ids) and distinct.
 * @example outboxMessageId(event.eventId, 1, 2)
 */
export function outboxMessageId(eventId: string, index: number, count = 2): string {
  return count === 1 ? eventId : deterministicId(`outbox\u0000${eventId}\u0000${index}`)
}
