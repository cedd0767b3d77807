import type { OutboundMessage } from '@annals/core'
import type { PoolClient } from 'pg'
import { messageOfRow, type OutboxMessageRow } from '../outbox-row.js'

/** A claimed outbox row on its way to the broker. */
export type RelayedMessage = OutboundMessage & Readonly<{ id: bigint; attempts: number }>

/** The quoted outbox table a relay reads and writes. @internal */
export type RelayTables = Readonly<{ outbox: string }>

type Row = OutboxMessageRow & { id: string; attempts: number; status: 'pending' | 'dead'; due: boolean }

/**
 * Locks the heads of up to `batchSize` partition keys (in the caller's open transaction) and returns
 * them with the due rows of their keys behind them, in id order; `null` when no key can flow.
 *
 * Only the lowest unsent row of a key (its head) can be claimed, with `FOR UPDATE SKIP LOCKED`; holding
 * it locks the key, because every other relay skips it, so the rows behind it are this relay's too.
 * @internal
 */
export async function claimBatch(
  client: PoolClient,
  t: RelayTables,
  limits: Readonly<{ batchSize: number; scanWindow: number }>,
): Promise<RelayedMessage[] | null> {
  // Heads only: a row with an unsent (pending or dead) row of the same key before it is not eligible.
  // The scan looks at a bounded window of the oldest due rows so that a few keys with long backlogs
  // do not make every claim walk the whole backlog; rows of keys held back by a dead or retrying
  // head are left out of the window, so they cannot crowd out the keys that can flow.
  const heads = await client.query<{ id: string; partition_key: string }>(
    `SELECT o.id, o.partition_key
       FROM ${t.outbox} o
      WHERE o.id = ANY (ARRAY(
              SELECT c.id
                FROM (SELECT DISTINCT ON (w.partition_key) w.id, w.partition_key
                        FROM (SELECT x.id, x.partition_key
                                FROM ${t.outbox} x
                               WHERE x.status = 'pending' AND x.next_attempt_at <= now()
                                 AND x.partition_key NOT IN (
                                       SELECT b.partition_key FROM ${t.outbox} b
                                        WHERE b.status <> 'sent' AND b.attempts > 0
                                          AND (b.status = 'dead' OR b.next_attempt_at > now()))
                               ORDER BY x.id
                               LIMIT $2) w
                       ORDER BY w.partition_key, w.id) c
               -- The earliest window row of each key is its head unless an unsent row precedes it. The
               -- row comparison can only be answered by the (partition_key, id) index of unsent rows,
               -- whose entries of sent rows die and get skipped, never by walking the primary key
               -- through every row sent before.
               WHERE NOT EXISTS (SELECT 1 FROM ${t.outbox} e
                                  WHERE e.partition_key = c.partition_key AND e.status <> 'sent'
                                    AND (e.partition_key, e.id) < (c.partition_key, c.id))))
        AND o.status = 'pending' AND o.next_attempt_at <= now()
      ORDER BY o.id
      -- The limit applies after skipping heads other relays hold, so a second relay takes the next
      -- keys instead of finding the first batchSize heads all locked.
      LIMIT $1
        FOR UPDATE SKIP LOCKED`,
    [limits.batchSize, limits.scanWindow],
  )
  if (heads.rows.length === 0) return null
  const perKey = Math.max(1, Math.ceil(limits.batchSize / heads.rows.length))
  const rows = await client.query<Row>(
    `SELECT o.id, o.message_id, o.topic, o.partition_key, o.type, o.payload, o.headers, o.attempts, o.status,
            o.next_attempt_at <= now() AS due
       FROM unnest($1::text[], $2::bigint[]) AS h(key, head_id)
      CROSS JOIN LATERAL (
            SELECT * FROM ${t.outbox} x
             WHERE x.partition_key = h.key AND x.id >= h.head_id AND x.status <> 'sent'
             ORDER BY x.id
             LIMIT $3) o
      ORDER BY o.id`,
    [heads.rows.map((h) => h.partition_key), heads.rows.map((h) => h.id), perKey],
  )
  // A key stops at its first row that is dead or waiting for a retry: nothing behind it may overtake it.
  const blocked = new Set<string>()
  const batch: RelayedMessage[] = []
  for (const row of rows.rows) {
    if (blocked.has(row.partition_key)) continue
    if (row.status !== 'pending' || !row.due) {
      blocked.add(row.partition_key)
      continue
    }
    batch.push({ ...messageOfRow(row), id: BigInt(row.id), attempts: row.attempts })
  }
  return batch
}
