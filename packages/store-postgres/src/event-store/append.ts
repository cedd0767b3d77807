import type { AppendResult, ImportedEvent, StreamAppend } from '@annals/core'
import { type AppendContext, mapPgError } from '../map-pg-error.js'
import type { SqlExecutor } from '../sql/executor.js'
import type { StoreTables } from '../store-tables.js'
import { type PreparedAppend, prepareAppends, type ResolvedLimits } from './append-input.js'
import { toAppendResults, wroteEvents } from './append-results.js'
import { type AppendRow, appendStatements } from './append-sql.js'
import { NO_OUTBOX_ROWS, type OutboxOptions, type OutboxRows, outboxRows } from './outbox-rows.js'
import { createWakeReaders } from './wake-readers.js'

/** @internal The store's append: validate, map outbox messages, one statement, wake readers, results. */
export type Append = (appends: readonly StreamAppend[], imported: boolean) => Promise<AppendResult[]>

/** @internal Builds the append of one store. */
export function createAppend(
  names: StoreTables,
  executor: SqlExecutor,
  limits: ResolvedLimits,
  publish: OutboxOptions['publish'] | undefined,
): Append {
  const sql = appendStatements(names, executor.kind === 'pg')
  const wakeReaders = createWakeReaders(executor, names.channel)

  function fastValues(only: PreparedAppend): unknown[] {
    return [
      only.streamId,
      only.expectedCode,
      only.events.length,
      only.ids,
      only.events.map((e) => e.type),
      only.schemaVersions,
      only.data,
      only.metadata,
      only.checkIds,
    ]
  }

  function functionValues(prepared: readonly PreparedAppend[], ob: OutboxRows): unknown[] {
    return [
      prepared.map((p) => p.streamId),
      prepared.map((p) => p.expectedCode),
      prepared.map((p) => p.events.length),
      prepared.map((p) => p.checkIds),
      prepared.flatMap((p) => p.ids),
      prepared.flatMap((p) => p.events.map((e) => e.type)),
      prepared.flatMap((p) => p.schemaVersions),
      prepared.flatMap((p) => p.data),
      prepared.flatMap((p) => p.metadata),
      prepared.flatMap((p) => p.recordedAt),
      ob.event,
      ob.ids,
      ob.topics,
      ob.keys,
      ob.types,
      ob.payloads,
      ob.headers,
      ob.envelope,
    ]
  }

  return async (appends, imported) => {
    const prepared = prepareAppends(appends, imported, limits)
    const ob = publish ? outboxRows(prepared, publish) : NO_OUTBOX_ROWS
    let rows: AppendRow[] = []
    try {
      const only = prepared[0]
      if (prepared.length === 1 && only && !imported && only.events.length > 0 && ob.event.length === 0) {
        const fast = await executor.query<AppendRow>(sql.fast, fastValues(only), sql.fastName)
        if (fast[0]?.o_next_version != null) rows = fast
      }
      if (rows.length === 0)
        rows = await executor.query<AppendRow>(sql.append, functionValues(prepared, ob), sql.appendName)
    } catch (error) {
      const context: AppendContext = {
        schema: names.schema,
        streams: prepared.map((p) => p.streamId),
        expected: prepared.map((p) => p.expected),
        importedAt: prepared.map((p) => (p.events[0] as ImportedEvent | undefined)?.recordedAt),
      }
      throw mapPgError(error, context)
    }
    const results = toAppendResults(rows, prepared)
    if (wroteEvents(rows, prepared)) wakeReaders()
    return results
  }
}
