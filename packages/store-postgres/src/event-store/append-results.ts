import type { AppendResult, EventMetadata, ImportedEvent, RecordedEvent } from '@annals/core'
import { PgUnexpectedResultError } from '../errors.js'
import type { PreparedAppend } from './append-input.js'
import type { AppendRow } from './append-sql.js'

function isDuplicate(row: AppendRow): boolean {
  return row.o_duplicate === true || row.o_duplicate === 't'
}

/** @internal Turns the append's rows into results: the recorded events come from the input plus the positions. */
export function toAppendResults(rows: readonly AppendRow[], prepared: readonly PreparedAppend[]): AppendResult[] {
  if (rows.length !== prepared.length) {
    throw new PgUnexpectedResultError(`The append function returned ${rows.length} rows for ${prepared.length} streams`)
  }
  return rows.map((row, index) => {
    const p = prepared[index] as PreparedAppend
    const next = BigInt(row.o_next_version ?? 0)
    if (isDuplicate(row)) return { streamId: p.streamId, nextExpectedVersion: next, events: [], duplicate: true }
    if (p.events.length === 0) return { streamId: p.streamId, nextExpectedVersion: next, events: [], duplicate: false }
    const positions = (row.o_positions ?? '').split(',')
    const transactionId = BigInt(row.o_transaction_id ?? '0')
    const first = next - BigInt(p.events.length) + 1n
    const recordedMs = row.o_recorded_ms === null ? null : Number(row.o_recorded_ms)
    const events = p.events.map((event, i): RecordedEvent => {
      const at = recordedMs === null ? (event as ImportedEvent).recordedAt.getTime() : recordedMs
      return {
        type: event.type,
        data: JSON.parse(p.data[i] as string) as unknown,
        eventId: p.ids[i] as string,
        streamId: p.streamId,
        streamVersion: first + BigInt(i),
        globalPosition: BigInt(positions[i] ?? '0'),
        transactionId,
        schemaVersion: p.schemaVersions[i] as number,
        metadata: JSON.parse(p.metadata[i] as string) as EventMetadata,
        recordedAt: new Date(at),
      }
    })
    return { streamId: p.streamId, nextExpectedVersion: next, events, duplicate: false }
  })
}
