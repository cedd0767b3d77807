import type { OutboundMessage } from '@annals/core'
import type { PoolClient } from 'pg'
import type { OutboxMessageRow } from '../outbox-row.js'

/** A claimed outbox row on its way to the broker. */
export type RelayedMessage = OutboundMessage & Readonly<{ id: bigint; attempts: number }>

/** The quoted outbox table a relay reads and writes. @internal */
export type RelayTables = Readonly<{ outbox: string }>

/** What one claim asks for. @internal */
export type ClaimLimits = Readonly<{
  batchSize: number
  scanWindow: number
  /**
   * Keys whose heads this relay already holds in other open batches: left out of the scan window so
   * that the window finds keys that can flow. Only an optimisation; the row locks alone keep the order.
   */
  heldKeys: readonly string[]
}>

type Row = Omit<OutboxMessageRow, 'payload'> & {
  id: string
  payload_json: string
  attempts: number
  status: 'pending' | 'dead'
  due: boolean
}

/**
 * Locks the heads of up to `batchSize` partition keys (in the caller's open transaction) and returns
 * them with the due rows of their keys behind them, in id order; empty when no key can flow.
 *
 * Only the lowest unsent row of a key (its head) can be claimed, with `FOR UPDATE SKIP LOCKED`; holding
 * it locks the key, because every other relay skips it, so the rows behind it are this relay's too.
 * @internal
 */
export async function claimBatch(client: PoolClient, t: RelayTables, limits: ClaimLimits): Promise<RelayedMessage[]> {
  // One statement, one round trip. Heads only: a row with an unsent (pending or dead) row of the same key
  // before it is not eligible. The scan looks at a bounded window of the oldest due rows so that a few
  // keys with long backlogs do not make every claim walk the whole backlog; rows of keys held back by a
  // dead or retrying head, or held by this relay's other batches, are left out of the window, so they
  // cannot crowd out the keys that can flow.
  //
  // The head's columns come from the locked row (FOR UPDATE re-reads the newest committed version), the
  // rows behind it from the statement's snapshot. That snapshot cannot be stale for them: only the holder
  // of a key's head writes the rows behind it, and a holder that let go of the head without marking it
  // sent stopped the key there, leaving every later row as it was.
  const { rows } = await client.query<Row>(
    `WITH heads AS (
       SELECT o.id, o.message_id, o.topic, o.partition_key, o.type, o.payload::text AS payload_json, o.headers, o.attempts
         FROM ${t.outbox} o
        WHERE o.id = ANY (ARRAY(
                SELECT c.id
                  -- A hash aggregate, not DISTINCT ON: sorting the whole window was most of the scan.
                  FROM (SELECT w.partition_key, min(w.id) AS id
                          FROM (SELECT x.id, x.partition_key
                                  FROM ${t.outbox} x
                                 WHERE x.status = 'pending' AND x.next_attempt_at <= now()
                                   AND x.partition_key <> ALL ($3::text[])
                                   AND x.partition_key NOT IN (
                                         SELECT b.partition_key FROM ${t.outbox} b
                                          WHERE b.status <> 'sent' AND b.attempts > 0
                                            AND (b.status = 'dead' OR b.next_attempt_at > now()))
                                 ORDER BY x.id
                                 LIMIT $2) w
                         GROUP BY w.partition_key) c
                 -- The earliest window row of each key is its head unless an unsent row precedes it. The
                 -- row comparison can only be answered by the (partition_key, id) index of unsent rows,
                 -- whose entries of sent rows die and get skipped, never by walking the primary key
                 -- through every row sent before.
                 WHERE NOT EXISTS (SELECT 1 FROM ${t.outbox} e
                                    WHERE e.partition_key = c.partition_key AND e.status <> 'sent'
                                      AND (e.partition_key, e.id) < (c.partition_key, c.id))))
          AND o.status = 'pending' AND o.next_attempt_at <= now()
        ORDER BY o.id
        -- The limit applies after skipping heads other batches hold, so a second relay takes the next
        -- keys instead of finding the first batchSize heads all locked.
        LIMIT $1
          FOR UPDATE SKIP LOCKED)
     SELECT h.id, h.message_id, h.topic, h.partition_key, h.type, h.payload_json, h.headers, h.attempts,
            'pending' AS status, true AS due
       FROM heads h
     UNION ALL
     SELECT r.id, r.message_id, r.topic, r.partition_key, r.type, r.payload::text, r.headers, r.attempts, r.status,
            r.next_attempt_at <= now()
       FROM heads h
      CROSS JOIN LATERAL (
            SELECT * FROM ${t.outbox} x
             WHERE x.partition_key = h.partition_key AND x.id > h.id AND x.status <> 'sent'
             ORDER BY x.id
             -- About batchSize rows in all: an equal share per key, the head included.
             LIMIT (SELECT ($1 + count(*) - 1) / count(*) - 1 FROM heads)) r
      ORDER BY id`,
    [limits.batchSize, limits.scanWindow, limits.heldKeys],
  )
  // A key stops at its first row that is dead or waiting for a retry: nothing behind it may overtake it.
  const blocked = new Set<string>()
  const batch: RelayedMessage[] = []
  for (const row of rows) {
    if (blocked.has(row.partition_key)) continue
    if (row.status !== 'pending' || !row.due) {
      blocked.add(row.partition_key)
      continue
    }
    batch.push(relayedMessageOfRow(row))
  }
  return batch
}

// The payload stays JSON text on its way through: publishers send `payloadJson` as is, so a relayed
// message is parsed only if something asks for `payload` (an `afterPublish` hook, a custom publisher).
function relayedMessageOfRow(row: Row): RelayedMessage {
  const payloadJson = row.payload_json
  let payload: unknown
  let parsed = false
  return {
    id: BigInt(row.id),
    attempts: row.attempts,
    messageId: row.message_id,
    topic: row.topic,
    partitionKey: row.partition_key,
    type: row.type,
    payloadJson,
    get payload() {
      if (!parsed) {
        payload = JSON.parse(payloadJson)
        parsed = true
      }
      return payload
    },
    headers: row.headers ?? {},
  }
}
