import type { OutboundMessage } from '@annals/core'

/** The message columns of an outbox row, as node-postgres returns them. @internal */
export type OutboxMessageRow = {
  message_id: string
  topic: string
  partition_key: string
  type: string
  payload: unknown
  headers: Record<string, string> | null
}

/** The message an outbox row holds. @internal */
export function messageOfRow(row: OutboxMessageRow): OutboundMessage {
  return {
    messageId: row.message_id,
    topic: row.topic,
    partitionKey: row.partition_key,
    type: row.type,
    payload: row.payload,
    headers: row.headers ?? {},
  }
}
