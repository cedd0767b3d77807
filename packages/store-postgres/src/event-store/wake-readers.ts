import type { SqlRunner } from '../sql/executor.js'

/**
 * @internal Returns the store's wake-up: NOTIFY on `channel` after an append committed, in its own
 * statement, at most one in flight per store (later appends meanwhile coalesce into one more). A
 * NOTIFY inside the append transaction would take Postgres' notification-queue lock through the
 * commit's WAL flush and serialise every concurrent append (measured: 16 writers at 0.18x of raw
 * INSERTs). Wake-ups are hints: readers also poll, so a failed one is dropped.
 */
export function createWakeReaders(runner: SqlRunner, channel: string): () => void {
  let inFlight = false
  let again = false
  function wakeReaders(): void {
    if (inFlight) {
      again = true
      return
    }
    inFlight = true
    again = false
    runner
      .query('SELECT pg_notify($1, $2)', [channel, ''])
      .catch(() => undefined)
      .finally(() => {
        inFlight = false
        if (again) wakeReaders()
      })
  }
  return wakeReaders
}
