import { outboxTables } from '@annals/store-postgres/outbox'
import { type TableLocation, withTransaction } from '@annals/store-postgres/sql'
import type { Pool, PoolClient } from 'pg'

/** Options of {@link createIdempotentHandler}. */
export type IdempotentHandlerOptions<M extends { readonly messageId: string }> = TableLocation &
  Readonly<{
    pool: Pool
    /** Names the consumer: each consumer keeps its own record of what it processed. */
    consumer: string
    /** Applies the message inside the transaction that also records its id. */
    handle: (message: M, tx: PoolClient) => Promise<void>
  }>

/** What an idempotent handler did with a message. */
export type IdempotentOutcome = 'processed' | 'duplicate'

/**
 * Wraps a handler so that each message id is applied at most once per consumer: the id is inserted
 * into `processed_messages` in the same transaction as the handler's own writes, so a redelivered
 * message is skipped (and can be acknowledged) while a failed one leaves no trace.
 */
export function createIdempotentHandler<M extends { readonly messageId: string }>(
  options: IdempotentHandlerOptions<M>,
): (message: M) => Promise<IdempotentOutcome> {
  const t = outboxTables(options)
  return (message) =>
    withTransaction(options.pool, async (tx): Promise<IdempotentOutcome> => {
      // A concurrent delivery of the same id waits here on the primary key until the first commits.
      const inserted = await tx.query(
        `INSERT INTO ${t.processed} (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        [options.consumer, message.messageId],
      )
      // A duplicate wrote nothing, so committing its transaction is the same as rolling it back.
      if (inserted.rowCount === 0) return 'duplicate'
      await options.handle(message, tx)
      return 'processed'
    })
}

/** Deletes processed-message records older than `olderThanMs` (keep them longer than any redelivery can take). */
export async function pruneProcessedMessages(
  options: TableLocation & Readonly<{ pool: Pool; olderThanMs: number; consumer?: string }>,
): Promise<{ deleted: number }> {
  const t = outboxTables(options)
  const result = await options.pool.query(
    `DELETE FROM ${t.processed}
      WHERE processed_at < now() - ($1::bigint * interval '1 millisecond') AND ($2::text IS NULL OR consumer = $2)`,
    [Math.max(0, Math.floor(options.olderThanMs)), options.consumer ?? null],
  )
  return { deleted: result.rowCount ?? 0 }
}
