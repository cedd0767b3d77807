import type { OutboundMessage } from '@annals/core'
import { outboxTables } from '@annals/store-postgres/outbox'
import type { TableLocation } from '@annals/store-postgres/sql'
import type { Pool } from 'pg'
import { messageOfRow, type OutboxMessageRow } from './outbox-row.js'

/** Where to find the outbox: a pool plus schema and table prefix. */
export type OutboxLocation = TableLocation & Readonly<{ pool: Pool }>

/** The relay's state, read from the outbox table (database time). */
export type OutboxStatus = Readonly<{
  /** Messages waiting to be published (including ones waiting for a retry). */
  pending: number
  /** Messages that exhausted their attempts; their keys are blocked until they are retried. */
  dead: number
  /** Published messages not yet removed by the cleanup. */
  sentRetained: number
  /** Age of the oldest pending message, in milliseconds; `null` when nothing is pending. */
  oldestPendingAgeMs: number | null
  oldestPendingCreatedAt: Date | null
}>

/** A message that exhausted its attempts, with the outbox row's bookkeeping. */
export type DeadMessage = OutboundMessage &
  Readonly<{
    id: bigint
    eventId: string | null
    eventPosition: bigint | null
    attempts: number
    lastError: string | null
    createdAt: Date
    deadAt: Date | null
  }>

/** Backlog size, oldest pending age and dead count of the outbox. */
export async function getOutboxStatus(options: OutboxLocation): Promise<OutboxStatus> {
  const t = outboxTables(options)
  const { rows } = await options.pool.query<{
    pending: string
    dead: string
    sent: string
    oldest: Date | null
    age_ms: string | null
  }>(
    `SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
            count(*) FILTER (WHERE status = 'dead') AS dead,
            count(*) FILTER (WHERE status = 'sent') AS sent,
            min(created_at) FILTER (WHERE status = 'pending') AS oldest,
            (extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending')) * 1000)::bigint AS age_ms
       FROM ${t.outbox}`,
  )
  const row = rows[0]
  return {
    pending: Number(row?.pending ?? 0),
    dead: Number(row?.dead ?? 0),
    sentRetained: Number(row?.sent ?? 0),
    oldestPendingAgeMs: row?.age_ms == null ? null : Number(row.age_ms),
    oldestPendingCreatedAt: row?.oldest ?? null,
  }
}

/** Lists dead messages, oldest first. */
export async function listDeadMessages(
  options: OutboxLocation & Readonly<{ limit?: number; topic?: string }>,
): Promise<DeadMessage[]> {
  const t = outboxTables(options)
  const { rows } = await options.pool.query<
    OutboxMessageRow & {
      id: string
      event_id: string | null
      event_position: string | null
      attempts: number
      last_error: string | null
      created_at: Date
      dead_at: Date | null
    }
  >(
    `SELECT id, message_id, topic, partition_key, type, payload, headers, event_id, event_position, attempts,
            last_error, created_at, dead_at
       FROM ${t.outbox}
      WHERE status = 'dead' AND ($2::text IS NULL OR topic = $2)
      ORDER BY id
      LIMIT $1`,
    [options.limit ?? 100, options.topic ?? null],
  )
  return rows.map((r) => ({
    id: BigInt(r.id),
    ...messageOfRow(r),
    eventId: r.event_id,
    eventPosition: r.event_position === null ? null : BigInt(r.event_position),
    attempts: r.attempts,
    lastError: r.last_error,
    createdAt: r.created_at,
    deadAt: r.dead_at,
  }))
}

/**
 * Puts dead messages back in line (all of them, or those with the given message ids) with fresh
 * attempts; messages of the same key behind them follow once they are published.
 */
export async function retryDeadMessages(
  options: OutboxLocation & Readonly<{ messageIds?: readonly string[] }>,
): Promise<{ retried: number }> {
  const t = outboxTables(options)
  const ids = options.messageIds
  const result = await options.pool.query(
    `UPDATE ${t.outbox}
        SET status = 'pending', attempts = 0, next_attempt_at = now(), dead_at = NULL
      WHERE status = 'dead' AND ($1::text[] IS NULL OR message_id::text = ANY($1::text[]))`,
    [ids === undefined ? null : [...ids]],
  )
  return { retried: result.rowCount ?? 0 }
}

/** Deletes published messages sent more than `olderThanMs` ago (at most `limit` rows per call). */
export async function cleanupSentMessages(
  options: OutboxLocation & Readonly<{ olderThanMs: number; limit?: number }>,
): Promise<{ deleted: number }> {
  const t = outboxTables(options)
  const result = await options.pool.query(
    `DELETE FROM ${t.outbox}
      WHERE id IN (SELECT id FROM ${t.outbox}
                    WHERE status = 'sent' AND sent_at < now() - ($1::bigint * interval '1 millisecond')
                    ORDER BY sent_at LIMIT $2)`,
    [Math.max(0, Math.floor(options.olderThanMs)), options.limit ?? 10_000],
  )
  return { deleted: result.rowCount ?? 0 }
}
