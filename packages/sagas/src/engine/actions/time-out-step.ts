import { failStep, type SagaDrive } from '../saga-drive.js'

/** Fails an awaiting step whose deadline passed (it stays marked as having taken effect, so it is undone too). */
export async function timeOutStep(drive: SagaDrive, index: number): Promise<void> {
  const { st } = drive.step(index)
  if (!st) return
  await failStep(drive, index, st.attempt, {
    reason: 'timeout',
    error: { code: 'STEP_TIMEOUT', message: `no outcome before the deadline ${st.deadlineAt?.toISOString() ?? ''}` },
  })
}
