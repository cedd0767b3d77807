import { deterministicId, type EventStore, isDuplicateEventIdError, type RecordedEvent } from '@annals/core'
import { type AnySagaDefinition, type SagaStep, sagaStreamId } from '../saga-definition.js'
import type { SagaEvent } from '../saga-events.js'
import type { EventDecoder } from './event-decoder.js'
import type { Delivery } from './saga-engine-types.js'

/**
 * Records `StepEventReceived` in every existing instance whose awaiting step names `event`'s type as
 * an outcome; the event id makes a redelivery a no-op.
 * @internal
 */
export async function deliverEvent(
  deps: Readonly<{ store: EventStore; decode: EventDecoder }>,
  sagas: Iterable<AnySagaDefinition>,
  event: RecordedEvent,
): Promise<readonly Delivery[]> {
  const out: Delivery[] = []
  for (const saga of sagas) {
    for (let index = 0; index < saga.steps.length; index++) {
      const step = saga.steps[index] as SagaStep<unknown>
      const awaits = step.awaits
      if (!awaits) continue
      const outcome = awaits.success.includes(event.type)
        ? 'success'
        : awaits.failure.includes(event.type)
          ? 'failure'
          : null
      if (!outcome) continue
      const sagaId = awaits.sagaId(deps.decode(awaits, awaits.definitions, event))
      if (typeof sagaId !== 'string' || sagaId.length === 0) continue
      const streamId = sagaStreamId(saga.name, sagaId)
      const exists = await deps.store.readStream(streamId, { limit: 1 })
      if (!exists.streamExists) continue
      try {
        await deps.store.appendToStream<SagaEvent>(
          streamId,
          [
            {
              type: 'StepEventReceived',
              data: { step: step.name, index, eventId: event.eventId, eventType: event.type, outcome },
              eventId: deterministicId(`${streamId}\u0000received\u0000${index}\u0000${event.eventId}`),
              metadata: {
                ...(event.metadata.correlationId ? { correlationId: event.metadata.correlationId } : {}),
                causationId: event.eventId,
              },
            },
          ],
          { expectedVersion: 'any' },
        )
      } catch (error) {
        if (!isDuplicateEventIdError(error)) throw error
      }
      out.push({ saga: saga.name, sagaId, step: step.name })
    }
  }
  return out
}
