import type { SagaDrive } from '../saga-drive.js'

/** Records a step's compensating command (`CompensationIssued`) before it is sent, or why it cannot be built. */
export async function compensateStep(drive: SagaDrive, index: number): Promise<void> {
  const { def } = drive.step(index)
  const compensate = def.compensate
  if (!compensate) return
  const built = drive.commands.build(def, compensate, drive.ctx)
  if (!built.ok) {
    await drive.append(
      { type: 'CompensationFailed', data: { step: def.name, index, error: built.error } },
      `compensation-failed\u0000${index}`,
    )
    return
  }
  await drive.append(
    {
      type: 'CompensationIssued',
      data: {
        step: def.name,
        index,
        streamId: built.streamId,
        command: built.command,
        idempotencyKey: `saga:${drive.saga.name}:${drive.sagaId}:${def.name}:compensate`,
      },
    },
    `compensation-issued\u0000${index}`,
  )
}
