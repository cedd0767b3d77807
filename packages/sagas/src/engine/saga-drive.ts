import { deterministicId, type EventStore, type Logger } from '@annals/core'
import type { AnySagaDefinition, SagaContext, SagaStep } from '../saga-definition.js'
import type { RecordedError, SagaEvent, StepFailureReason } from '../saga-events.js'
import type { SagaState, StepState } from '../saga-state.js'
import { appendSagaEvent } from './append-saga-event.js'
import type { SagaBoundary } from './saga-engine-types.js'
import type { StepCommands } from './step-commands.js'

/** A saga instance as just folded, with what its steps run with. @internal */
type FoldedSaga = Readonly<{
  saga: AnySagaDefinition
  sagaId: string
  streamId: string
  state: SagaState
  ctx: SagaContext<unknown>
  now: () => Date
  commands: StepCommands
  log: Logger
}>

/** One pass of a drive: the instance as just folded, and the means to move it one event further. @internal */
export type SagaDrive = FoldedSaga &
  Readonly<{
    boundary: (boundary: Omit<SagaBoundary, 'saga' | 'sagaId'>) => Promise<void>
    /**
     * Appends one saga event at the folded version, with an id derived from `idName`; false when someone
     * else moved the saga first (the drive then re-reads and decides again).
     */
    append: (event: SagaEvent, idName: string, causationId?: string) => Promise<boolean>
    /** A step's definition and its folded state. */
    step: (index: number) => Readonly<{ def: SagaStep<unknown>; st: StepState | undefined }>
  }>

/** What {@link createSagaDrive} needs besides the folded state. @internal */
export type SagaDriveSetup = FoldedSaga &
  Readonly<{
    store: EventStore
    boundary: ((boundary: SagaBoundary) => void | Promise<void>) | undefined
  }>

/** @internal */
export function createSagaDrive(setup: SagaDriveSetup): SagaDrive {
  const { store, saga, sagaId, streamId, state, log } = setup
  const boundary = async (b: Omit<SagaBoundary, 'saga' | 'sagaId'>) => {
    await setup.boundary?.({ ...b, saga: saga.name, sagaId })
  }
  return {
    saga,
    sagaId,
    streamId,
    state,
    ctx: setup.ctx,
    now: setup.now,
    commands: setup.commands,
    log,
    boundary,
    async append(event, idName, causationId) {
      const appended = await appendSagaEvent(
        store,
        streamId,
        {
          ...event,
          eventId: deterministicId(`${streamId}\u0000${idName}`),
          metadata: {
            ...(state.correlationId ? { correlationId: state.correlationId } : {}),
            ...(causationId ? { causationId } : {}),
          },
        },
        state.version,
      )
      // Someone else moved the saga (another worker, or an event delivery): re-read and decide again.
      if (appended === null) return false
      log.debug({ saga: saga.name, sagaId, event: event.type }, 'saga progressed')
      await boundary({
        point: 'appended',
        eventType: event.type,
        ...('step' in event.data ? { step: event.data.step } : {}),
      })
      return true
    },
    step: (index) => ({ def: saga.steps[index] as SagaStep<unknown>, st: state.steps[index] }),
  }
}

/** Records `StepFailed` for attempt `attempt` of step `index` (id `failed/<index>/<attempt>`). @internal */
export function failStep(
  drive: SagaDrive,
  index: number,
  attempt: number,
  failure: Readonly<{ reason: StepFailureReason; error: RecordedError }>,
  causationId?: string,
): Promise<boolean> {
  const { def } = drive.step(index)
  return drive.append(
    { type: 'StepFailed', data: { step: def.name, index, attempt, reason: failure.reason, error: failure.error } },
    `failed\u0000${index}\u0000${attempt}`,
    causationId,
  )
}

/** Records `StepSucceeded` for attempt `attempt` of step `index` (id `succeeded/<index>/<attempt>`). @internal */
export function succeedStep(
  drive: SagaDrive,
  index: number,
  attempt: number,
  via: Readonly<{ via: 'command'; eventId: null } | { via: 'event'; eventId: string }>,
  causationId: string,
): Promise<boolean> {
  const { def } = drive.step(index)
  return drive.append(
    { type: 'StepSucceeded', data: { step: def.name, index, attempt, via: via.via, eventId: via.eventId } },
    `succeeded\u0000${index}\u0000${attempt}`,
    causationId,
  )
}

/** The step in progress (forward or being undone), null once the saga ended. @internal */
export function currentStep(state: SagaState): string | null {
  if (state.status === 'running') return state.steps.find((s) => s.status !== 'succeeded')?.name ?? null
  if (state.status === 'compensating') {
    const s =
      state.steps.find((x) => x.status === 'compensating') ??
      [...state.steps].reverse().find((x) => x.tookEffect && x.status !== 'compensated')
    return s?.name ?? null
  }
  return null
}
