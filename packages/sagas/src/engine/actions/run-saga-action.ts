import type { SagaAction } from '../../saga-state.js'
import type { SagaDrive } from '../saga-drive.js'
import { compensateStep } from './compensate-step.js'
import { completeSaga } from './complete-saga.js'
import { endSaga } from './end-saga.js'
import { executeCompensation } from './execute-compensation.js'
import { executeStep } from './execute-step.js'
import { issueStep } from './issue-step.js'
import { resolveStep } from './resolve-step.js'
import { timeOutStep } from './time-out-step.js'

/** An action that moves the saga (everything but waiting and being done). */
export type SagaMove = Exclude<SagaAction, Readonly<{ kind: 'wait' | 'done' }>>

/**
 * Performs one action: each records at most one saga event, so the drive folds again after it.
 * (Exhaustive over {@link SagaMove}: a new action kind does not compile until it is handled here.)
 * @internal
 */
export function runSagaAction(drive: SagaDrive, action: SagaMove): Promise<void> {
  switch (action.kind) {
    case 'issue':
      return issueStep(drive, action.step)
    case 'execute':
      return executeStep(drive, action.step)
    case 'resolve':
      return resolveStep(drive, action.step)
    case 'time-out':
      return timeOutStep(drive, action.step)
    case 'complete':
      return completeSaga(drive)
    case 'compensate':
      return compensateStep(drive, action.step)
    case 'execute-compensation':
      return executeCompensation(drive, action.step)
    case 'end':
      return endSaga(drive, action.outcome, action.reason)
  }
}
