import type { SagaDrive } from '../saga-drive.js'

/** Records `SagaCompleted` once every step succeeded. */
export async function completeSaga(drive: SagaDrive): Promise<void> {
  if (await drive.append({ type: 'SagaCompleted', data: {} }, 'completed')) {
    drive.log.info({ saga: drive.saga.name, sagaId: drive.sagaId }, 'saga completed')
  }
}
