import type { Event } from '@annals/core'

/** An error as recorded in a saga's history. */
export type RecordedError = Readonly<{ code: string; message: string }>

/** A command as recorded in a saga's history (re-issued as recorded after a crash). */
export type RecordedCommand = Readonly<{ type: string; data: unknown }>

/** The saga instance was started with its (validated) input. */
export type SagaStarted = Event<
  'SagaStarted',
  { saga: string; sagaId: string; input: unknown; steps: string[]; triggeredBy: string | null }
>
/** A step's command is about to be sent (with a key derived from saga id, step and attempt). */
export type StepCommandIssued = Event<
  'StepCommandIssued',
  { step: string; index: number; attempt: number; streamId: string; command: RecordedCommand; idempotencyKey: string }
>
/** The step's command was accepted; its outcome will come as an event (before `deadlineAt`, when set). */
export type StepAccepted = Event<
  'StepAccepted',
  { step: string; index: number; attempt: number; deadlineAt: string | null; version: string }
>
/** An event that confirms or refuses an awaiting step reached the saga. */
export type StepEventReceived = Event<
  'StepEventReceived',
  { step: string; index: number; eventId: string; eventType: string; outcome: 'success' | 'failure' }
>
/** The step took effect. */
export type StepSucceeded = Event<
  'StepSucceeded',
  { step: string; index: number; attempt: number; via: 'command' | 'event'; eventId: string | null }
>
/** Why a step failed: its command was refused, invalid, a failure event came, or its deadline passed. */
export type StepFailureReason = 'rejected' | 'invalid' | 'event' | 'timeout'
/** The step failed: compensation of the completed steps starts. */
export type StepFailed = Event<
  'StepFailed',
  { step: string; index: number; attempt: number; reason: StepFailureReason; error: RecordedError }
>
/** A step's compensating command is about to be sent. */
export type CompensationIssued = Event<
  'CompensationIssued',
  { step: string; index: number; streamId: string; command: RecordedCommand; idempotencyKey: string }
>
/** A step was undone. */
export type Compensated = Event<'Compensated', { step: string; index: number }>
/** A compensating command was refused: the saga needs a human. */
export type CompensationFailed = Event<'CompensationFailed', { step: string; index: number; error: RecordedError }>
/** Every step succeeded. */
export type SagaCompleted = Event<'SagaCompleted', Record<string, never>>
/** A step failed and every completed step was undone. */
export type SagaCompensated = Event<'SagaCompensated', { failedStep: string }>
/** The saga ended neither completed nor fully undone (a compensation failed, or an irreversible step had run). */
export type SagaFailed = Event<'SagaFailed', { reason: string }>

/** Everything a saga's own stream holds. */
export type SagaEvent =
  | SagaStarted
  | StepCommandIssued
  | StepAccepted
  | StepEventReceived
  | StepSucceeded
  | StepFailed
  | CompensationIssued
  | Compensated
  | CompensationFailed
  | SagaCompleted
  | SagaCompensated
  | SagaFailed

/** The type names of {@link SagaEvent}. */
export const SAGA_EVENT_TYPES = Object.freeze([
  'SagaStarted',
  'StepCommandIssued',
  'StepAccepted',
  'StepEventReceived',
  'StepSucceeded',
  'StepFailed',
  'CompensationIssued',
  'Compensated',
  'CompensationFailed',
  'SagaCompleted',
  'SagaCompensated',
  'SagaFailed',
] as const satisfies readonly SagaEvent['type'][])
