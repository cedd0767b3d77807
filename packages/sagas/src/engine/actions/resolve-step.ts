import { failStep, type SagaDrive, succeedStep } from '../saga-drive.js'

/** Turns the outcome event an awaiting step received into its success or failure. */
export async function resolveStep(drive: SagaDrive, index: number): Promise<void> {
  const { st } = drive.step(index)
  const received = st?.received
  if (!received || !st) return
  if (received.outcome === 'success') {
    await succeedStep(drive, index, st.attempt, { via: 'event', eventId: received.eventId }, received.eventId)
    return
  }
  await failStep(
    drive,
    index,
    st.attempt,
    {
      reason: 'event',
      error: { code: 'STEP_REFUSED', message: `refused by ${received.eventType} (${received.eventId})` },
    },
    received.eventId,
  )
}
