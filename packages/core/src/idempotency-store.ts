/** A completed command's stored outcome, replayed when the same idempotency key arrives again. */
export type IdempotencyRecord = Readonly<{
  key: string
  /** Hash of the command the key was first used with; another command under the same key is an error. */
  fingerprint: string
  /** JSON-serialisable result of the first execution. */
  result: unknown
  createdAt: Date
}>

/**
 * Stores command outcomes by idempotency key. `execute` runs `work` at most once per key, even
 * when two callers race with the same key: the loser waits and receives the winner's result.
 */
export interface IdempotencyStore {
  /**
   * Runs `work` unless `key` was already completed. Returns the stored result with `replayed: true`
   * on a repeat; throws `ANNALS_ERR_IDEMPOTENCY_KEY_REUSED` when the fingerprint differs.
   */
  execute<R>(
    key: string,
    fingerprint: string,
    work: () => Promise<R>,
  ): Promise<Readonly<{ result: R; replayed: boolean }>>
}
