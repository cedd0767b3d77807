import { failStep, type SagaDrive } from '../saga-drive.js'

/** Records the next attempt's command (`StepCommandIssued`) before anything is sent, or why it cannot be built. */
export async function issueStep(drive: SagaDrive, index: number): Promise<void> {
  const { def, st } = drive.step(index)
  const attempt = (st?.attempt ?? 0) + 1
  const built = drive.commands.build(def, def.command, drive.ctx)
  if (!built.ok) {
    await failStep(drive, index, attempt, { reason: 'invalid', error: built.error })
    return
  }
  await drive.append(
    {
      type: 'StepCommandIssued',
      data: {
        step: def.name,
        index,
        attempt,
        streamId: built.streamId,
        command: built.command,
        idempotencyKey: `saga:${drive.saga.name}:${drive.sagaId}:${def.name}:${attempt}`,
      },
    },
    `issued\u0000${index}\u0000${attempt}`,
  )
}
