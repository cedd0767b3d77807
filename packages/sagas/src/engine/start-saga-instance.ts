import { deterministicId, type EventStore, type Logger } from '@annals/core'
import { type AnySagaDefinition, sagaStreamId } from '../saga-definition.js'
import { appendSagaEvent } from './append-saga-event.js'
import type { SagaHooks, StartSagaOptions, StartSagaResult } from './saga-engine-types.js'

/**
 * Records `SagaStarted` in a new saga stream; an existing stream (same saga id) means it started
 * already. `sagaId` was resolved and `input` validated by the caller.
 * @internal
 */
export async function startSagaInstance(
  deps: Readonly<{ store: EventStore; log: Logger; hooks: SagaHooks | undefined }>,
  saga: AnySagaDefinition,
  sagaId: string,
  input: unknown,
  options: StartSagaOptions | undefined,
): Promise<StartSagaResult> {
  const streamId = sagaStreamId(saga.name, sagaId)
  const cause = options?.causedBy
  const correlationId =
    options?.correlationId ??
    cause?.metadata.correlationId ??
    cause?.eventId ??
    deterministicId(`saga\u0000${streamId}`)
  const result = await appendSagaEvent(
    deps.store,
    streamId,
    {
      type: 'SagaStarted',
      data: {
        saga: saga.name,
        sagaId,
        // The raw input is kept and re-validated on every load, so ctx.input is always the schema's output.
        input: JSON.parse(JSON.stringify(input ?? null)),
        steps: saga.steps.map((s) => s.name),
        triggeredBy: cause?.eventId ?? null,
      },
      eventId: deterministicId(`saga-started\u0000${streamId}`),
      metadata: { correlationId, ...(cause ? { causationId: cause.eventId } : {}) },
    },
    'no-stream',
  )
  // Null or a duplicate: the saga had started already (same saga id).
  const started = result !== null && !result.duplicate
  if (started) {
    deps.log.info({ saga: saga.name, sagaId }, 'saga started')
    await deps.hooks?.boundary?.({ point: 'appended', saga: saga.name, sagaId, eventType: 'SagaStarted' })
  }
  return { saga: saga.name, sagaId, streamId, started }
}
