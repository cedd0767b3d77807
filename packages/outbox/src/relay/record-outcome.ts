import type { Backoff } from '@annals/core/runtime'
import type { PoolClient } from 'pg'
import { errorText } from '../error-text.js'
import type { RelayedMessage, RelayTables } from './claim-batch.js'
import type { PublishFailure } from './publish-batch.js'

/**
 * Marks the acknowledged messages sent, in the claiming transaction; with `retain: false` deletes them
 * instead. @internal
 */
export async function markSent(
  client: PoolClient,
  t: RelayTables,
  sent: readonly RelayedMessage[],
  retain: boolean,
): Promise<void> {
  if (sent.length === 0) return
  // Marking is an UPDATE that changes indexed columns (no HOT): a new row version plus three index
  // entries per row, about half of the relay's database time. A DELETE only stamps the old version.
  const sql = retain
    ? `UPDATE ${t.outbox} SET status = 'sent', sent_at = now() WHERE id = ANY($1::bigint[])`
    : `DELETE FROM ${t.outbox} WHERE id = ANY($1::bigint[])`
  await client.query(sql, [sent.map((m) => m.id.toString())])
}

/** One failed attempt as recorded: the attempt number, and whether it made the message dead. @internal */
export type RecordedFailure = PublishFailure & Readonly<{ attempt: number; dead: boolean }>

/**
 * Charges one attempt to each failed message: the error, the time of the next attempt (backoff) and,
 * at `maxAttempts`, the dead state. @internal
 */
export async function recordFailures(
  client: PoolClient,
  t: RelayTables,
  failures: readonly PublishFailure[],
  policy: Readonly<{ maxAttempts: number; backoff: Backoff }>,
): Promise<RecordedFailure[]> {
  if (failures.length === 0) return []
  const recorded = failures.map((f) => {
    const attempt = f.message.attempts + 1
    return { ...f, attempt, dead: attempt >= policy.maxAttempts }
  })
  await client.query(
    `UPDATE ${t.outbox} o
        SET attempts = f.attempts,
            last_error = f.error,
            last_attempt_at = now(),
            status = CASE WHEN f.attempts >= $4 THEN 'dead' ELSE 'pending' END,
            dead_at = CASE WHEN f.attempts >= $4 THEN now() ELSE NULL END,
            next_attempt_at = now() + (f.delay_ms * interval '1 millisecond')
       FROM unnest($1::bigint[], $2::int[], $3::text[], $5::bigint[]) AS f(id, attempts, error, delay_ms)
      WHERE o.id = f.id`,
    [
      recorded.map((f) => f.message.id.toString()),
      recorded.map((f) => f.attempt),
      recorded.map((f) => errorText(f.error)),
      policy.maxAttempts,
      recorded.map((f) => Math.max(0, Math.round(policy.backoff(f.attempt)))),
    ],
  )
  return recorded
}
