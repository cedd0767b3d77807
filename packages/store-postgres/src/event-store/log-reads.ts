import {
  type Event,
  InvalidArgumentError,
  LOG_START,
  type LogCheckpoint,
  type ReadAllOptions,
  type ReadAllResult,
  type ReadStreamOptions,
  type ReadStreamResult,
  type RecordedEvent,
  type StreamId,
} from '@annals/core'
import { checkInt64, checkLogCheckpoint, checkName, checkTime } from '@annals/core/runtime'
import { PgTenantScopeError } from '../errors.js'
import { type FenceHolder, readLogFenceStatus } from '../log-fence.js'
import { mapPgError } from '../map-pg-error.js'
import type { SqlRunner } from '../sql/executor.js'
import type { StoreTables } from '../store-tables.js'
import { type EventRow, toRecordedEvent } from './event-row.js'
import { logStatements } from './log-sql.js'

/** Options of `PostgresEventStore.countEvents`. */
export type CountEventsOptions = Readonly<{
  after?: LogCheckpoint
  types?: readonly string[]
  limit?: number
}>

/** Options of `PostgresEventStore.logHead`. */
export type LogHeadOptions = Readonly<{
  /** Default: the log's start. */
  after?: LogCheckpoint
  /** Default: every type. */
  types?: readonly string[]
  /** Count at most this many (each count). Default 1,000,000. */
  limit?: number
}>

/** The committed log after a checkpoint, whether or not the fence lets a reader see it yet. */
export type LogHead = Readonly<{
  /** Committed events after the checkpoint (capped by `limit`): what a reader there has left to do. */
  pending: number
  /**
   * Of those, the ones the fence holds back: committed by transactions at or above the oldest one
   * still running on the server, so no gap-safe read returns them until that one ends.
   */
  held: number
  /** Age of the oldest pending event by the database's clock, in milliseconds; null when none. */
  oldestAgeMs: number | null
  /** The transaction holding the fence back (the oldest running one), when `held` > 0 and it is still open. */
  holder: FenceHolder | null
}>

/** @internal The store's reads: one stream, the global log, counts. */
export type LogReads = Readonly<{
  readStream<E extends Event = Event>(streamId: StreamId, options?: ReadStreamOptions): Promise<ReadStreamResult<E>>
  readAll<E extends Event = Event>(options?: ReadAllOptions): Promise<ReadAllResult<E>>
  countEvents(options?: CountEventsOptions): Promise<number>
  logHead(options?: LogHeadOptions): Promise<LogHead>
}>

function checkLimit(limit: number | undefined, fallback: number | null, min: number): number | null {
  if (limit === undefined) return fallback
  // Safe integers only: a larger number reaches Postgres as an exponent or beyond bigint.
  if (!Number.isSafeInteger(limit) || limit < min)
    throw new InvalidArgumentError('limit', `must be an integer >= ${min}`)
  return limit
}

function checkAfter(after: LogCheckpoint = LOG_START): LogCheckpoint {
  return checkLogCheckpoint(after, 'after')
}

function checkTypes(types: readonly string[] | undefined, unique: boolean): string[] | null {
  if (!types) return null
  for (const [i, type] of types.entries()) checkName(type, 'event type', ['types', i])
  return unique ? [...new Set(types)] : [...types]
}

function checkpointOf(event: RecordedEvent): LogCheckpoint {
  return { transactionId: event.transactionId, position: event.globalPosition }
}

/** @internal Whose events a store's reads see. */
export type ReadScope = Readonly<{
  /** The tenant read; null: every tenant (the global log only, never one stream). */
  tenant: string | null
  /** Name each event's tenant (`tenantId`): reads of a tenant handle or of every tenant. */
  withTenant: boolean
}>

/** @internal Builds the reads of one store. */
export function createLogReads(names: StoreTables, runner: SqlRunner, scope: ReadScope): LogReads {
  const sql = logStatements(names)
  const { tenant, withTenant } = scope
  const toEvent = (row: EventRow) => toRecordedEvent(row, withTenant)
  const logError = (error: unknown) => mapPgError(error, { schema: names.schema, streams: [], expected: [] })

  return {
    async readStream<E extends Event = Event>(
      streamId: StreamId,
      options?: ReadStreamOptions,
    ): Promise<ReadStreamResult<E>> {
      checkName(streamId, 'stream id', ['streamId'])
      if (tenant === null) {
        throw new PgTenantScopeError('A stream belongs to one tenant: read it through forTenant(id), not ALL_TENANTS')
      }
      const limit = checkLimit(options?.limit, null, 0)
      const from = checkInt64(options?.from ?? 1n, 'from', 0n)
      const to = options?.to === undefined ? null : checkInt64(options.to, 'to', 0n)
      const untilPosition =
        options?.untilPosition === undefined ? null : checkInt64(options.untilPosition, 'untilPosition', 0n)
      const untilTime = options?.untilTime === undefined ? null : checkTime(options.untilTime, 'untilTime')
      let rows: (EventRow & { current_version: string | null })[]
      try {
        rows = await runner.query(sql.readStream, [
          streamId,
          from.toString(),
          to?.toString() ?? null,
          untilPosition?.toString() ?? null,
          untilTime?.toISOString() ?? null,
          limit,
          tenant,
        ])
      } catch (error) {
        throw mapPgError(error, { schema: names.schema, streams: [streamId], expected: [] })
      }
      const currentVersion = BigInt(rows[0]?.current_version ?? '0')
      const events = rows.filter((row) => row.event_id !== null).map((row) => toEvent(row) as RecordedEvent<E>)
      return { events, currentVersion, streamExists: currentVersion > 0n }
    },

    async readAll<E extends Event = Event>(options?: ReadAllOptions): Promise<ReadAllResult<E>> {
      const limit = checkLimit(options?.limit, 1000, 1) as number
      const after = checkAfter(options?.after)
      const types = checkTypes(options?.types, true)
      try {
        if (types === null) {
          const rows = await runner.query<EventRow>(sql.readAll, [
            after.transactionId.toString(),
            after.position.toString(),
            limit,
            tenant,
          ])
          const events = rows.map((row) => toEvent(row) as RecordedEvent<E>)
          const last = events[events.length - 1]
          return { events, checkpoint: last ? checkpointOf(last) : after, caughtUp: events.length < limit }
        }
        const rows = await runner.query<EventRow & { head_tx: string | null; head_pos: string | null }>(
          sql.readAllTyped,
          [after.transactionId.toString(), after.position.toString(), limit, types, tenant],
        )
        const events = rows.filter((row) => row.event_id !== null).map((row) => toEvent(row) as RecordedEvent<E>)
        const last = events[events.length - 1]
        if (events.length >= limit && last) return { events, checkpoint: checkpointOf(last), caughtUp: false }
        const headTx = rows[0]?.head_tx
        const headPos = rows[0]?.head_pos
        let checkpoint = last ? checkpointOf(last) : after
        if (headTx != null && headPos != null) {
          const head = { transactionId: BigInt(headTx), position: BigInt(headPos) }
          if (
            head.transactionId > checkpoint.transactionId ||
            (head.transactionId === checkpoint.transactionId && head.position > checkpoint.position)
          ) {
            checkpoint = head
          }
        }
        return { events, checkpoint, caughtUp: true }
      } catch (error) {
        throw logError(error)
      }
    },

    async countEvents(options?: CountEventsOptions): Promise<number> {
      const after = checkAfter(options?.after)
      const limit = checkLimit(options?.limit, null, 0)
      const types = checkTypes(options?.types, false)
      try {
        const [row] = await runner.query<{ n: string }>(sql.count, [
          after.transactionId.toString(),
          after.position.toString(),
          types,
          limit,
          tenant,
        ])
        return Number(row?.n ?? 0)
      } catch (error) {
        throw logError(error)
      }
    },

    async logHead(options?: LogHeadOptions): Promise<LogHead> {
      const after = checkAfter(options?.after)
      const limit = checkLimit(options?.limit, 1_000_000, 0) as number
      const types = checkTypes(options?.types, true)
      const params = [after.transactionId.toString(), after.position.toString(), limit]
      try {
        const [row] = await runner.query<{ pending: string; held: string; oldest_age_ms: string | null }>(
          types === null ? sql.head : sql.headTyped,
          types === null ? [...params, tenant] : [...params, types, tenant],
        )
        const held = Number(row?.held ?? 0)
        // Another round trip only when something is held: the holder is what an operator needs then.
        const holder = held > 0 ? ((await readLogFenceStatus(runner, 1)).holders[0] ?? null) : null
        return {
          pending: Number(row?.pending ?? 0),
          held,
          oldestAgeMs: row?.oldest_age_ms == null ? null : Math.max(0, Number(row.oldest_age_ms)),
          holder,
        }
      } catch (error) {
        throw logError(error)
      }
    },
  }
}
