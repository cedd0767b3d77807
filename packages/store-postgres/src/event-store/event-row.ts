import type { EventMetadata, RecordedEvent } from '@annals/core'

/** @internal An events row as the store selects it (every non-text column cast to text). */
export type EventRow = {
  event_id: string
  stream_id: string
  stream_version: string
  global_position: string
  transaction_id: string
  type: string
  schema_version: string | number
  data: string
  metadata: string
  recorded_ms: string
  tenant_id: string
}

/** @internal The select list producing an {@link EventRow} from alias `e`. */
export const EVENT_COLUMNS = `e.event_id::text AS event_id, e.stream_id, e.stream_version::text AS stream_version,
  e.global_position::text AS global_position, e.transaction_id::text AS transaction_id, e.type,
  e.schema_version::text AS schema_version, e.data::text AS data, e.metadata::text AS metadata,
  (extract(epoch FROM e.recorded_at) * 1000)::bigint::text AS recorded_ms, e.tenant_id`

/**
 * @internal Turns a selected row into a recorded event; with `withTenant` (reads of a tenant handle or
 * of every tenant) it names the event's tenant, so a projection across tenants can keep them apart.
 */
export function toRecordedEvent(row: EventRow, withTenant = false): RecordedEvent {
  const event: RecordedEvent = {
    type: row.type,
    data: JSON.parse(row.data) as unknown,
    eventId: row.event_id,
    streamId: row.stream_id,
    streamVersion: BigInt(row.stream_version),
    globalPosition: BigInt(row.global_position),
    transactionId: BigInt(row.transaction_id),
    schemaVersion: Number(row.schema_version),
    metadata: JSON.parse(row.metadata) as EventMetadata,
    recordedAt: new Date(Number(row.recorded_ms)),
  }
  return withTenant ? { ...event, tenantId: row.tenant_id } : event
}
