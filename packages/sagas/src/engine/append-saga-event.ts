import {
  type AppendResult,
  type EventStore,
  isConcurrencyError,
  isDuplicateEventIdError,
  type NewEvent,
} from '@annals/core'
import type { SagaEvent } from '../saga-events.js'

/**
 * Appends one saga event (its id derived from what it records, so a retry cannot record it twice) at
 * `expectedVersion`. Null when someone else moved the saga first: a version conflict, or this very
 * event already recorded by another worker or an earlier attempt. The caller re-reads and decides again.
 * @internal
 */
export async function appendSagaEvent(
  store: EventStore,
  streamId: string,
  event: NewEvent<SagaEvent>,
  expectedVersion: bigint | 'no-stream',
): Promise<AppendResult<SagaEvent> | null> {
  try {
    return await store.appendToStream<SagaEvent>(streamId, [event], { expectedVersion })
  } catch (error) {
    if (isConcurrencyError(error) || isDuplicateEventIdError(error)) return null
    throw error
  }
}
