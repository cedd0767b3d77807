import { deterministicId } from '@annals/core'
import { failStep, type SagaDrive, succeedStep } from '../saga-drive.js'

/**
 * Sends the recorded command (again, after a crash: its idempotency key makes that a no-op) and
 * records the outcome: failed, accepted (awaiting events, with its deadline) or succeeded.
 */
export async function executeStep(drive: SagaDrive, index: number): Promise<void> {
  const { def, st } = drive.step(index)
  const issued = st?.issued
  if (!issued || !st) return
  const issuedEventId = deterministicId(`${drive.streamId}\u0000issued\u0000${index}\u0000${issued.attempt}`)
  const outcome = await drive.commands.send(def.aggregate, issued, issuedEventId, drive.state)
  await drive.boundary({ point: 'command-executed', step: def.name })
  if (!outcome.ok) {
    await failStep(drive, index, issued.attempt, outcome, issuedEventId)
  } else if (def.awaits) {
    const deadlineMs = def.awaits.deadlineMs
    const issuedAt = st.issuedAt ?? drive.now()
    await drive.append(
      {
        type: 'StepAccepted',
        data: {
          step: def.name,
          index,
          attempt: issued.attempt,
          deadlineAt: deadlineMs === undefined ? null : new Date(issuedAt.getTime() + deadlineMs).toISOString(),
          version: outcome.version.toString(),
        },
      },
      `accepted\u0000${index}\u0000${issued.attempt}`,
      issuedEventId,
    )
  } else {
    await succeedStep(drive, index, issued.attempt, { via: 'command', eventId: null }, issuedEventId)
  }
}
