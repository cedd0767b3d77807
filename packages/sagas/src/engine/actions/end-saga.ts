import type { SagaDrive } from '../saga-drive.js'

/** Records how a compensating saga ended: fully compensated, or failed (a human is needed). */
export async function endSaga(drive: SagaDrive, outcome: 'compensated' | 'failed', reason: string): Promise<void> {
  const { saga, sagaId, state, log } = drive
  if (outcome === 'compensated') {
    if (await drive.append({ type: 'SagaCompensated', data: { failedStep: state.failedStep ?? '' } }, 'ended')) {
      log.info({ saga: saga.name, sagaId, failedStep: state.failedStep }, 'saga compensated')
    }
  } else if (await drive.append({ type: 'SagaFailed', data: { reason } }, 'ended')) {
    log.warn({ saga: saga.name, sagaId, reason }, 'saga failed: needs attention')
  }
}
