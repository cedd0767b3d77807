import type { RecordedEvent } from '@annals/core'
import { CorruptSagaHistoryError } from './errors.js'
import type { AnySagaDefinition } from './saga-definition.js'
import type {
  CompensationIssued,
  RecordedError,
  SagaEvent,
  StepCommandIssued,
  StepFailureReason,
} from './saga-events.js'

/** Where a saga instance stands. `failed` means it needs a human (a compensation was refused, or an irreversible step had run). */
export type SagaStatus = 'running' | 'compensating' | 'completed' | 'compensated' | 'failed'

/** The saga statuses, in lifecycle order. */
export const SAGA_STATUSES: readonly SagaStatus[] = Object.freeze([
  'running',
  'compensating',
  'completed',
  'compensated',
  'failed',
])

/** Where one step stands. */
export type StepStatus =
  | 'pending'
  | 'issued'
  | 'accepted'
  | 'succeeded'
  | 'failed'
  | 'compensating'
  | 'compensated'
  | 'compensation-failed'

/** One step of a saga instance, folded from its history. */
export type StepState = Readonly<{
  name: string
  index: number
  status: StepStatus
  attempt: number
  /** Database time when the step's command was issued. */
  issuedAt: Date | null
  /** When an awaiting step times out (database time of the issue plus its `deadlineMs`). */
  deadlineAt: Date | null
  /** The outcome event that reached the step while it waited, if any. */
  received: Readonly<{ eventId: string; eventType: string; outcome: 'success' | 'failure' }> | null
  /** True when the step may have taken effect, so compensation must undo it (succeeded, or timed out after acceptance). */
  tookEffect: boolean
  failure: Readonly<{ reason: StepFailureReason; error: RecordedError }> | null
  issued: StepCommandIssued['data'] | null
  compensation: CompensationIssued['data'] | null
}>

/** A saga instance, folded from its own stream. */
export type SagaState = Readonly<{
  saga: string
  sagaId: string
  streamId: string
  input: unknown
  status: SagaStatus
  /** The saga stream's version this state reflects. */
  version: bigint
  steps: readonly StepState[]
  /** The step that failed, once one has. */
  failedStep: string | null
  /** Why the saga ended `failed`. */
  failureReason: string | null
  correlationId: string | undefined
  startedAt: Date
  updatedAt: Date
}>

type MutableStep = { -readonly [K in keyof StepState]: StepState[K] }

function stepAt(state: { steps: MutableStep[]; streamId: string }, index: number, name: string): MutableStep {
  const step = state.steps[index]
  if (!step || step.name !== name) {
    throw new CorruptSagaHistoryError(state.streamId, `event for step "${name}" at index ${index} matches no step`)
  }
  return step
}

/**
 * Folds a saga's stream into its state; null for an empty stream. With a definition, throws
 * `ANNALS_SAGA_ERR_CORRUPT_HISTORY` when the stream was written by a definition with other steps;
 * without one (CLIs, dashboards), the step names recorded in `SagaStarted` are used.
 */
export function foldSaga(
  events: readonly RecordedEvent<SagaEvent>[],
  definition?: AnySagaDefinition,
): SagaState | null {
  const first = events[0]
  if (!first) return null
  if (first.type !== 'SagaStarted') {
    throw new CorruptSagaHistoryError(first.streamId, `first event is ${first.type}, not SagaStarted`)
  }
  const names = definition ? definition.steps.map((s) => s.name) : first.data.steps
  if (definition && (first.data.saga !== definition.name || first.data.steps.join('\u0000') !== names.join('\u0000'))) {
    throw new CorruptSagaHistoryError(
      first.streamId,
      `started by saga "${first.data.saga}" with steps [${first.data.steps.join(', ')}], ` +
        `defined now as "${definition.name}" with [${names.join(', ')}]`,
    )
  }
  const state = {
    saga: first.data.saga,
    sagaId: first.data.sagaId,
    streamId: first.streamId,
    input: first.data.input,
    status: 'running' as SagaStatus,
    version: 0n,
    steps: names.map(
      (name, index): MutableStep => ({
        name,
        index,
        status: 'pending',
        attempt: 0,
        issuedAt: null,
        deadlineAt: null,
        received: null,
        tookEffect: false,
        failure: null,
        issued: null,
        compensation: null,
      }),
    ),
    failedStep: null as string | null,
    failureReason: null as string | null,
    correlationId: first.metadata.correlationId,
    startedAt: first.recordedAt,
    updatedAt: first.recordedAt,
  }
  for (const event of events) {
    state.version = event.streamVersion
    state.updatedAt = event.recordedAt
    switch (event.type) {
      case 'SagaStarted':
        break
      case 'StepCommandIssued': {
        const step = stepAt(state, event.data.index, event.data.step)
        step.status = 'issued'
        step.attempt = event.data.attempt
        step.issued = event.data
        step.issuedAt = event.recordedAt
        break
      }
      case 'StepAccepted': {
        const step = stepAt(state, event.data.index, event.data.step)
        step.status = 'accepted'
        step.deadlineAt = event.data.deadlineAt === null ? null : new Date(event.data.deadlineAt)
        break
      }
      case 'StepEventReceived': {
        const step = stepAt(state, event.data.index, event.data.step)
        // An outcome may overtake the executor's own record of the command; late ones are history only.
        if ((step.status === 'issued' || step.status === 'accepted') && step.received === null) {
          step.received = { eventId: event.data.eventId, eventType: event.data.eventType, outcome: event.data.outcome }
        }
        break
      }
      case 'StepSucceeded': {
        const step = stepAt(state, event.data.index, event.data.step)
        step.status = 'succeeded'
        step.tookEffect = true
        break
      }
      case 'StepFailed': {
        const step = stepAt(state, event.data.index, event.data.step)
        step.status = 'failed'
        step.failure = { reason: event.data.reason, error: event.data.error }
        // An accepted step that never confirmed may still take effect: undo it like a completed one.
        step.tookEffect = event.data.reason === 'timeout'
        state.status = 'compensating'
        state.failedStep = step.name
        break
      }
      case 'CompensationIssued': {
        const step = stepAt(state, event.data.index, event.data.step)
        step.status = 'compensating'
        step.compensation = event.data
        break
      }
      case 'Compensated':
        stepAt(state, event.data.index, event.data.step).status = 'compensated'
        break
      case 'CompensationFailed': {
        const step = stepAt(state, event.data.index, event.data.step)
        step.status = 'compensation-failed'
        step.failure = { reason: 'rejected', error: event.data.error }
        break
      }
      case 'SagaCompleted':
        state.status = 'completed'
        break
      case 'SagaCompensated':
        state.status = 'compensated'
        break
      case 'SagaFailed':
        state.status = 'failed'
        state.failureReason = event.data.reason
        break
      default:
        throw new CorruptSagaHistoryError(state.streamId, `unknown event type ${(event as { type: string }).type}`)
    }
  }
  return Object.freeze({ ...state, steps: Object.freeze(state.steps.map((s) => Object.freeze({ ...s }))) })
}

/** What the engine does next for a saga instance. */
export type SagaAction =
  | Readonly<{ kind: 'issue'; step: number }>
  | Readonly<{ kind: 'execute'; step: number }>
  | Readonly<{ kind: 'resolve'; step: number }>
  | Readonly<{ kind: 'time-out'; step: number }>
  /** Nothing to do until an outcome event arrives or `until` (a deadline; null: no deadline). */
  | Readonly<{ kind: 'wait'; until: Date | null }>
  | Readonly<{ kind: 'complete' }>
  | Readonly<{ kind: 'compensate'; step: number }>
  | Readonly<{ kind: 'execute-compensation'; step: number }>
  | Readonly<{ kind: 'end'; outcome: 'compensated' | 'failed'; reason: string }>
  | Readonly<{ kind: 'done' }>

/** The next action for a saga state at time `now` (pure: the engine performs it and folds again). */
export function nextSagaAction(definition: AnySagaDefinition, state: SagaState, now: Date): SagaAction {
  if (state.status === 'completed' || state.status === 'compensated' || state.status === 'failed') {
    return { kind: 'done' }
  }
  if (state.status === 'running') {
    const step = state.steps.find((s) => s.status !== 'succeeded')
    if (!step) return { kind: 'complete' }
    switch (step.status) {
      case 'pending':
        return { kind: 'issue', step: step.index }
      case 'issued':
        return { kind: 'execute', step: step.index }
      case 'accepted':
        if (step.received) return { kind: 'resolve', step: step.index }
        if (step.deadlineAt && now.getTime() >= step.deadlineAt.getTime()) return { kind: 'time-out', step: step.index }
        return { kind: 'wait', until: step.deadlineAt }
      default:
        throw new CorruptSagaHistoryError(state.streamId, `step "${step.name}" is ${step.status} while running`)
    }
  }
  // Compensating: finish the undo in flight, then undo the next completed step, from the last one back.
  const inFlight = state.steps.find((s) => s.status === 'compensating')
  if (inFlight) return { kind: 'execute-compensation', step: inFlight.index }
  const refused = state.steps.find((s) => s.status === 'compensation-failed')
  if (refused) {
    return {
      kind: 'end',
      outcome: 'failed',
      reason: `compensation of step "${refused.name}" was refused: ${refused.failure?.error.message ?? ''}`,
    }
  }
  for (let i = state.steps.length - 1; i >= 0; i--) {
    const step = state.steps[i] as StepState
    const def = definition.steps[i]
    if (step.tookEffect && def?.compensate && (step.status === 'succeeded' || step.status === 'failed')) {
      return { kind: 'compensate', step: i }
    }
  }
  const stuck = state.steps.find(
    (s, i) => s.tookEffect && s.status !== 'compensated' && definition.steps[i]?.irreversible,
  )
  if (stuck) {
    return {
      kind: 'end',
      outcome: 'failed',
      reason: `step "${state.failedStep}" failed after the irreversible step "${stuck.name}" had run`,
    }
  }
  return { kind: 'end', outcome: 'compensated', reason: '' }
}
