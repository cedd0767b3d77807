import { deterministicId } from '@annals/core'
import type { SagaDrive } from '../saga-drive.js'

/** Sends the recorded compensating command (again, after a crash) and records whether it took effect. */
export async function executeCompensation(drive: SagaDrive, index: number): Promise<void> {
  const { def, st } = drive.step(index)
  const issued = st?.compensation
  if (!issued) return
  const issuedEventId = deterministicId(`${drive.streamId}\u0000compensation-issued\u0000${index}`)
  const outcome = await drive.commands.send(def.aggregate, issued, issuedEventId, drive.state)
  await drive.boundary({ point: 'compensation-executed', step: def.name })
  if (outcome.ok) {
    await drive.append(
      { type: 'Compensated', data: { step: def.name, index } },
      `compensated\u0000${index}`,
      issuedEventId,
    )
  } else {
    await drive.append(
      { type: 'CompensationFailed', data: { step: def.name, index, error: outcome.error } },
      `compensation-failed\u0000${index}`,
      issuedEventId,
    )
  }
}
