/**
 * A position in the global log. The log is ordered by `(transactionId, position)`; a reader that
 * stores both resumes exactly after the last event it processed.
 */
export type LogCheckpoint = Readonly<{ transactionId: bigint; position: bigint }>

/** The checkpoint before the first event of the log. */
export const LOG_START: LogCheckpoint = Object.freeze({ transactionId: 0n, position: 0n })

/** Compares two checkpoints in log order: negative when `a` is before `b`. */
export function compareCheckpoints(a: LogCheckpoint, b: LogCheckpoint): number {
  if (a.transactionId !== b.transactionId) return a.transactionId < b.transactionId ? -1 : 1
  if (a.position !== b.position) return a.position < b.position ? -1 : 1
  return 0
}

/**
 * Stores a named consumer's checkpoint: the port for a hand-written log subscriber whose side effects
 * live elsewhere (a reactor that calls an API, a consumer that feeds another system). The projection
 * runner does not use it on purpose: its read-model sinks (`ReadModelSink` in @annals/projections)
 * commit the checkpoint in the same write as the read model, which a separate store cannot do.
 * Implementations that can should also offer a way to store it atomically with the consumer's own
 * writes (the Postgres one takes a transaction).
 */
export interface CheckpointStore {
  load(consumer: string): Promise<LogCheckpoint | null>
  /**
   * Stores the checkpoint. When `expected` is given, stores only if the current value equals it
   * (compare-and-set) and returns false otherwise.
   */
  store(consumer: string, checkpoint: LogCheckpoint, expected?: LogCheckpoint | null): Promise<boolean>
}

/** Wakes a log reader when new events may be available (Postgres LISTEN/NOTIFY, an in-memory emitter). */
export interface LogWatcher {
  /** Registers a listener; returns a function that removes it. */
  onWake(listener: () => void): () => void
  close(): Promise<void>
}
