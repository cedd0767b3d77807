import type { CheckpointStore, LogCheckpoint } from '../checkpoint.js'
import { compareCheckpoints } from '../checkpoint.js'
import { checkLogCheckpoint, checkName } from '../stored-values.js'

/** Creates a checkpoint store that keeps checkpoints in memory (compare-and-set included). */
export function createInMemoryCheckpointStore(): CheckpointStore {
  const checkpoints = new Map<string, LogCheckpoint>()
  return {
    async load(consumer: string): Promise<LogCheckpoint | null> {
      checkName(consumer, 'checkpoint', ['consumer'])
      return checkpoints.get(consumer) ?? null
    },
    async store(consumer: string, checkpoint: LogCheckpoint, expected?: LogCheckpoint | null): Promise<boolean> {
      checkName(consumer, 'checkpoint', ['consumer'])
      checkLogCheckpoint(checkpoint, 'checkpoint')
      if (expected) checkLogCheckpoint(expected, 'expected')
      if (expected !== undefined) {
        const current = checkpoints.get(consumer) ?? null
        const same =
          current === null || expected === null ? current === expected : compareCheckpoints(current, expected) === 0
        if (!same) return false
      }
      checkpoints.set(consumer, { transactionId: checkpoint.transactionId, position: checkpoint.position })
      return true
    },
  }
}
