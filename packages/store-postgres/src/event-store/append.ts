import { type AppendResult, ConcurrencyError, type ImportedEvent, type StreamAppend } from '@annals/core'
import { PgAppendOutcomeUnknownError, PgUnexpectedResultError } from '../errors.js'
import { type AppendContext, mapPgError } from '../map-pg-error.js'
import type { SqlExecutor } from '../sql/executor.js'
import type { StoreTables } from '../store-tables.js'
import { type PreparedAppend, prepareAppends, type ResolvedLimits } from './append-input.js'
import { toAppendResults } from './append-results.js'
import { AppendMessageLost, createAppendRunner, isStatementError, type SqlValue } from './append-runner.js'
import { type AppendRow, appendStatements } from './append-sql.js'
import { createGroupCommit, type GroupCommitSettings, type GroupMember } from './group-commit.js'
import { concatOutboxRows, NO_OUTBOX_ROWS, type OutboxOptions, type OutboxRows, outboxRows } from './outbox-rows.js'

/** @internal The store's append: validate, map outbox messages, one statement, wake readers, results. */
export type Append = (
  appends: readonly StreamAppend[],
  imported: boolean,
  /** The tenant's session setting, null for the default tenant without row-level security. */
  tenant: string | null,
) => Promise<AppendResult[]>

type Single = Readonly<{ prepared: PreparedAppend; ob: OutboxRows; tenant: string | null }>

const isTrue = (value: boolean | string | null | undefined): boolean => value === true || value === 't'

function contextOf(prepared: readonly PreparedAppend[]): Omit<AppendContext, 'schema'> {
  return {
    streams: prepared.map((p) => p.streamId),
    expected: prepared.map((p) => p.expected),
    importedAt: prepared.map((p) => (p.events[0] as ImportedEvent | undefined)?.recordedAt),
  }
}

/**
 * The stream's version when the fast path's snapshot proves the expected version stale, else null
 * (the append function then finds out: a lost race, a re-send, a racing creation). Versions only
 * grow, so a committed version other than the expected one is a conflict at that snapshot, and the
 * caller learns it without waiting behind the row lock of the writer that moved the stream.
 */
function provenConflict(p: PreparedAppend, row: AppendRow): bigint | null {
  if (isTrue(row.o_seen)) return null
  const current = row.o_current_version == null ? null : BigInt(row.o_current_version)
  const expected = BigInt(p.expectedCode)
  if (expected >= 0n) {
    if (current === null) return expected === 0n ? null : 0n
    return current === expected ? null : current
  }
  if (expected === -2n) return current === null || current === 0n ? 0n : null
  return null
}

/** @internal Builds the append of one store. */
export function createAppend(
  names: StoreTables,
  executor: SqlExecutor,
  limits: ResolvedLimits,
  publish: OutboxOptions['publish'] | undefined,
  groupCommit: GroupCommitSettings | null,
): Append {
  const sql = appendStatements(names)
  const run = createAppendRunner(executor, names.channel)
  const fail = (error: unknown, prepared: readonly PreparedAppend[]) =>
    error instanceof AppendMessageLost
      ? new PgAppendOutcomeUnknownError(
          prepared.map((p) => ({ streamId: p.streamId, eventIds: [...p.ids] })),
          { cause: error.cause },
        )
      : mapPgError(error, { schema: names.schema, ...contextOf(prepared) })

  function fastValues(only: PreparedAppend): SqlValue[] {
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

  function functionValues(prepared: readonly PreparedAppend[], ob: OutboxRows, partial: boolean): SqlValue[] {
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
      partial,
    ]
  }

  async function appendAlone(
    prepared: PreparedAppend[],
    ob: OutboxRows,
    imported: boolean,
    tenant: string | null,
  ): Promise<AppendResult[]> {
    const only = prepared[0]
    let rows: AppendRow[]
    try {
      if (prepared.length === 1 && only && !imported && only.events.length > 0 && ob.event.length === 0) {
        const [row] = await run(sql.fast, fastValues(only), tenant)
        if (row?.o_next_version != null) return toAppendResults([row], prepared)
        const actual = row ? provenConflict(only, row) : null
        if (actual !== null) throw new ConcurrencyError(only.streamId, only.expected, actual)
      }
      rows = await run(sql.append, functionValues(prepared, ob, false), tenant)
    } catch (error) {
      throw error instanceof ConcurrencyError ? error : fail(error, prepared)
    }
    return toAppendResults(rows, prepared)
  }

  function settle(member: GroupMember<Single, AppendResult>): Promise<void> {
    return appendAlone([member.item.prepared], member.item.ob, false, member.item.tenant).then(
      ([result]) => member.resolve(result as AppendResult),
      member.reject,
    )
  }

  // A shared transaction that fails is attributed by running its appends again, each alone: the
  // failure (a bad event, a re-used id) then belongs to the one append that caused it, and the others
  // commit. That is safe because a server-reported error rolled the whole transaction back. A lost
  // connection is not retried: the commit may have happened, for all of them or none, and each member
  // learns that its outcome is unknown.
  async function commitGroup(batch: readonly GroupMember<Single, AppendResult>[]): Promise<void> {
    const first = batch[0]
    if (batch.length === 1 && first) return settle(first)
    const prepared = batch.map((m) => m.item.prepared)
    const ob = concatOutboxRows(batch.map((m) => m.item))
    let rows: AppendRow[]
    try {
      rows = await run(sql.append, functionValues(prepared, ob, true), first?.item.tenant ?? null)
    } catch (error) {
      if (!isStatementError(error)) {
        for (const m of batch) m.reject(fail(error, [m.item.prepared]))
        return
      }
      await Promise.all(batch.map(settle))
      return
    }
    if (rows.length !== batch.length) {
      throw new PgUnexpectedResultError(`The append function returned ${rows.length} rows for ${batch.length} streams`)
    }
    batch.forEach((m, i) => {
      const row = rows[i] as AppendRow
      const p = m.item.prepared
      if (isTrue(row.o_conflict))
        m.reject(new ConcurrencyError(p.streamId, p.expected, BigInt(row.o_next_version ?? 0)))
      else m.resolve(toAppendResults([row], [p])[0] as AppendResult)
    })
  }

  // One group per tenant: the appends sharing a transaction share its tenant setting.
  const groups = new Map<string | null, (item: Single) => Promise<AppendResult>>()
  const groupOf = (tenant: string | null) => {
    if (!groupCommit) return null
    let group = groups.get(tenant)
    if (!group) {
      group = createGroupCommit(groupCommit, commitGroup)
      groups.set(tenant, group)
    }
    return group
  }

  return async (appends, imported, tenant) => {
    const prepared = prepareAppends(appends, imported, limits)
    const ob = publish ? outboxRows(prepared, publish) : NO_OUTBOX_ROWS
    const only = prepared[0]
    const grouped = groupOf(tenant)
    if (grouped && !imported && prepared.length === 1 && only) return [await grouped({ prepared: only, ob, tenant })]
    return appendAlone(prepared, ob, imported, tenant)
  }
}
