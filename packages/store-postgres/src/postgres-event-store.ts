import { createHash, randomUUID } from 'node:crypto'
import {
  AppendLimitExceededError,
  type AppendOptions,
  type AppendResult,
  DuplicateEventIdError,
  deterministicId,
  type Event,
  type EventMetadata,
  type EventStore,
  type ExpectedVersion,
  type ImportedEvent,
  InvalidArgumentError,
  LOG_START,
  type LogCheckpoint,
  type NewEvent,
  type ReadAllOptions,
  type ReadAllResult,
  type ReadStreamOptions,
  type ReadStreamResult,
  type RecordedEvent,
  type StreamAppend,
  type StreamId,
  TimeTravelBackwardsError,
  ValidationError,
} from '@annals/core'
import { PgInvalidOptionError, PgUnexpectedResultError } from './errors.js'
import { getLogFenceStatus, type LogFenceStatus } from './log-fence.js'
import { type AppendContext, mapPgError } from './map-pg-error.js'
import { EVENT_COLUMNS, type EventRow, toRecordedEvent } from './rows.js'
import { type StoreConnection, toExecutor } from './sql/executor.js'
import { type StoreTables, storeTables } from './store-tables.js'
import { checkText, toJsonText } from './validation.js'

/** One message for the outbox table, derived from one appended event by `outbox.publish`. */
export type OutboxMessage = Readonly<{
  topic: string
  /** Default: the event id when the event yields one message, else `outboxMessageId(eventId, index)` (core's `deterministicId`). */
  messageId?: string
  /** Default: the stream id. */
  partitionKey?: string
  /** Default: the event type. */
  type?: string
  /** Default: the event data. */
  payload?: unknown
  /** Merged over `correlation-id` / `causation-id` taken from the event metadata. */
  headers?: Readonly<Record<string, string>>
}>

/**
 * Writes outbox rows in the append's transaction. `publish` runs before the SQL: the event it receives
 * has its final id, type, data, metadata, stream id and stream version (exact when the append names an
 * exact expected version), but `globalPosition`, `transactionId` and `recordedAt` are placeholders (0n,
 * 0n, the epoch): the database fills `event_position` and rewrites the `annals-global-position`,
 * `annals-stream-version` and `annals-recorded-at` headers when present.
 */
export type OutboxOptions = Readonly<{ publish: (event: RecordedEvent) => readonly OutboxMessage[] }>

/** Per-append caps (`ANNALS_ERR_APPEND_LIMIT_EXCEEDED` beyond them). */
export type AppendLimits = Readonly<{
  /** Most events in one append (all streams together). Default 10 000. */
  maxEventsPerAppend?: number
  /** Most bytes of JSON data + metadata in one append. Default 16 MiB. */
  maxBytesPerAppend?: number
}>

/** Options of {@link createPostgresEventStore}. */
export type PostgresEventStoreOptions = StoreConnection &
  Readonly<{
    /** Schema holding the tables (default `annals`). */
    schema?: string
    /** Prefix of every table name (default none). */
    tablePrefix?: string
    limits?: AppendLimits
    outbox?: OutboxOptions
  }>

/** Options of {@link PostgresEventStore.countEvents}. */
export type CountEventsOptions = Readonly<{
  after?: LogCheckpoint
  types?: readonly string[]
  limit?: number
}>

/** The Postgres event store: the {@link EventStore} port plus diagnostics of the global log. */
export interface PostgresEventStore extends EventStore {
  /** What holds the commit-safe fence of the global log back (the oldest running transaction). */
  logFence(): Promise<LogFenceStatus>
  /**
   * Counts the stored events after `after` (default: the log's start) of the given types (default:
   * all), stopping at `limit` (default: no cap) so that a far-behind reader does not scan the whole
   * log. The count is of committed rows, fence or not: a progress or lag figure, not a read.
   * @example const pending = await store.countEvents({ after: checkpoint, types: ['MoneyDeposited'], limit: 1_000_000 })
   */
  countEvents(options?: CountEventsOptions): Promise<number>
  /** Schema, prefix, qualified table names and NOTIFY channel in use. */
  readonly names: StoreTables
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

type AppendRow = {
  o_stream_index: number | string
  o_duplicate: boolean | string
  o_next_version: string
  o_transaction_id: string | null
  o_recorded_ms: string | null
  o_positions: string | null
}

type Prepared = {
  streamId: StreamId
  expected: ExpectedVersion
  events: readonly (NewEvent | ImportedEvent)[]
  ids: string[]
  checkIds: boolean
  data: string[]
  metadata: string[]
  metadataObjects: EventMetadata[]
  schemaVersions: number[]
  recordedAt: (string | null)[]
}

function expectedCode(expected: ExpectedVersion): string {
  if (typeof expected === 'bigint') {
    if (expected < 0n) throw new InvalidArgumentError('expectedVersion', 'must be >= 0n')
    return expected.toString()
  }
  switch (expected) {
    case 'any':
      return '-1'
    case 'no-stream':
      return '0'
    case 'stream-exists':
      return '-2'
    default:
      throw new InvalidArgumentError('expectedVersion', `unknown value ${String(expected)}`)
  }
}

/** The outbox message id of message `index` of an event that yields several messages (one message: the event id). */
export function outboxMessageId(eventId: string, index: number): string {
  return deterministicId(`outbox\u0000${eventId}\u0000${index}`)
}

/**
 * Creates the Postgres event store over a caller-owned `pg.Pool` (or PGlite, or Kysely). An append
 * is one statement (one round trip) calling the append function created by {@link migrate}.
 * @example const store = createPostgresEventStore({ pool, schema: 'annals' })
 */
export function createPostgresEventStore(options: PostgresEventStoreOptions): PostgresEventStore {
  const names = storeTables(options)
  const executor = toExecutor(options)
  const maxEvents = options.limits?.maxEventsPerAppend ?? 10_000
  const maxBytes = options.limits?.maxBytesPerAppend ?? 16 * 1024 * 1024
  if (!Number.isInteger(maxEvents) || maxEvents < 1) {
    throw new PgInvalidOptionError('limits.maxEventsPerAppend', 'must be an integer >= 1')
  }
  if (!Number.isInteger(maxBytes) || maxBytes < 1) {
    throw new PgInvalidOptionError('limits.maxBytesPerAppend', 'must be an integer >= 1')
  }
  const publish = options.outbox?.publish
  const statementName = executor.kind === 'pg' ? `annals_append_${hashName(names.appendFunction)}` : undefined
  const appendSql = `SELECT o_stream_index, o_duplicate, o_next_version, o_transaction_id, o_recorded_ms, o_positions
    FROM ${names.appendFunction}($1::text[], $2::bigint[], $3::integer[], $4::boolean[], $5::uuid[], $6::text[],
      $7::integer[], $8::text[], $9::text[], $10::timestamptz[], $11::integer[], $12::uuid[], $13::text[], $14::text[],
      $15::text[], $16::text[], $17::text[])`

  // The common append (one stream, no re-sent ids, no import, no outbox messages) as one plain SQL
  // statement: cheaper than the function's interpreter. It writes only when the stream is where the
  // caller expects (or new, for 'any' / no-stream); otherwise it writes nothing and returns no base,
  // and the append function runs to find out what happened (conflict, re-send, racing creation).
  const fastName = executor.kind === 'pg' ? `annals_append_fast_${hashName(names.events)}` : undefined
  const fastSql = `WITH u AS (
      UPDATE ${names.streams} s SET version = s.version + $3::integer,
        last_recorded_at = greatest(date_trunc('milliseconds', clock_timestamp()), s.last_recorded_at)
      WHERE s.stream_id = $1 AND ($2::bigint = -1 OR ($2::bigint = -2 AND s.version > 0) OR s.version = $2::bigint)
        AND NOT ($9::boolean AND EXISTS (SELECT 1 FROM ${names.events} e WHERE e.event_id = ANY ($4::uuid[])))
      RETURNING s.version - $3::integer AS base, s.last_recorded_at AS at
    ), i AS (
      INSERT INTO ${names.streams} AS s (stream_id, version, last_recorded_at)
      SELECT $1, $3::integer, date_trunc('milliseconds', clock_timestamp())
      WHERE $2::bigint IN (-1, 0) AND NOT EXISTS (SELECT 1 FROM u)
        AND NOT ($9::boolean AND EXISTS (SELECT 1 FROM ${names.events} e WHERE e.event_id = ANY ($4::uuid[])))
      ON CONFLICT (stream_id) DO NOTHING
      RETURNING 0::bigint AS base, s.last_recorded_at AS at
    ), s AS (SELECT * FROM u UNION ALL SELECT * FROM i),
    ins AS (
      INSERT INTO ${names.events} (event_id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at)
      SELECT x.id, $1, s.base + x.k, x.t, x.sv, x.d::jsonb, x.m::jsonb, s.at
      FROM s, unnest($4::uuid[], $5::text[], $6::integer[], $7::text[], $8::text[]) WITH ORDINALITY AS x(id, t, sv, d, m, k)
      ORDER BY x.k
      RETURNING global_position, stream_version
    )
    SELECT 1 AS o_stream_index, false AS o_duplicate, (SELECT (s.base + $3::integer)::text FROM s) AS o_next_version,
      pg_current_xact_id()::text AS o_transaction_id,
      (SELECT (extract(epoch FROM s.at) * 1000)::bigint::text FROM s) AS o_recorded_ms,
      (SELECT string_agg(ins.global_position::text, ',' ORDER BY ins.stream_version) FROM ins) AS o_positions`

  // The wake-up is sent after the append committed, in its own statement, at most one in flight per
  // store (later appends meanwhile coalesce into one more). A NOTIFY inside the append transaction
  // would take Postgres' notification-queue lock through the commit's WAL flush and serialise every
  // concurrent append (measured: 16 writers at 0.18x of raw INSERTs). Wake-ups are hints: readers also poll.
  let notifyInFlight = false
  let notifyAgain = false
  function wakeReaders(): void {
    if (notifyInFlight) {
      notifyAgain = true
      return
    }
    notifyInFlight = true
    notifyAgain = false
    executor
      .query('SELECT pg_notify($1, $2)', [names.channel, ''])
      .catch(() => undefined)
      .finally(() => {
        notifyInFlight = false
        if (notifyAgain) wakeReaders()
      })
  }

  function prepare(append: StreamAppend, imported: boolean, seenIds: Set<string>, index: number): Prepared {
    const streamId = checkText(append.streamId, 'stream id', ['appends', index, 'streamId'])
    const expected = append.expectedVersion ?? 'any'
    expectedCode(expected)
    if (!Array.isArray(append.events)) throw new InvalidArgumentError('events', 'must be an array')
    const prepared: Prepared = {
      streamId,
      expected,
      events: append.events,
      ids: [],
      checkIds: false,
      data: [],
      metadata: [],
      metadataObjects: [],
      schemaVersions: [],
      recordedAt: [],
    }
    let previous: Date | undefined
    append.events.forEach((event: NewEvent | ImportedEvent, i) => {
      const path = [streamId, i]
      checkText(event.type, 'event type', [...path, 'type'])
      let id = event.eventId
      if (id === undefined) {
        id = randomUUID()
      } else {
        if (typeof id !== 'string' || !UUID.test(id)) throw new InvalidArgumentError('eventId', `"${id}" is not a UUID`)
        prepared.checkIds = true
        id = id.toLowerCase()
      }
      if (seenIds.has(id)) throw new DuplicateEventIdError(id, streamId, 'the same id appears twice in one append')
      seenIds.add(id)
      const schemaVersion = event.schemaVersion ?? 1
      if (!Number.isInteger(schemaVersion) || schemaVersion < 1) {
        throw new InvalidArgumentError('schemaVersion', 'must be an integer >= 1')
      }
      const metadata = event.metadata ?? {}
      if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
        throw new ValidationError('event metadata', [{ path: [...path, 'metadata'], message: 'must be an object' }])
      }
      prepared.ids.push(id)
      prepared.schemaVersions.push(schemaVersion)
      prepared.data.push(toJsonText(event.data ?? null, 'event data', [...path, 'data']))
      prepared.metadata.push(toJsonText(metadata, 'event metadata', [...path, 'metadata']))
      prepared.metadataObjects.push(metadata)
      if (imported) {
        const at = (event as ImportedEvent).recordedAt
        if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
          throw new InvalidArgumentError('recordedAt', 'must be a valid Date')
        }
        if (previous && at.getTime() < previous.getTime()) throw new TimeTravelBackwardsError(streamId, at, previous)
        previous = at
        prepared.recordedAt.push(at.toISOString())
      } else {
        prepared.recordedAt.push(null)
      }
    })
    return prepared
  }

  async function run(appends: readonly StreamAppend[], imported: boolean): Promise<AppendResult[]> {
    if (!Array.isArray(appends)) throw new InvalidArgumentError('appends', 'must be an array')
    const seenStreams = new Set<StreamId>()
    const seenIds = new Set<string>()
    const prepared = appends.map((append, index) => {
      if (seenStreams.has(append.streamId)) {
        throw new InvalidArgumentError('appends', `stream "${append.streamId}" appears twice in one atomic append`)
      }
      seenStreams.add(append.streamId)
      return prepare(append, imported, seenIds, index)
    })
    let count = 0
    let bytes = 0
    for (const p of prepared) {
      count += p.events.length
      for (let i = 0; i < p.data.length; i++) bytes += (p.data[i] as string).length + (p.metadata[i] as string).length
    }
    if (count > maxEvents) throw new AppendLimitExceededError('events', maxEvents, count)
    // String length undercounts UTF-8 bytes at most 3x: measure exactly only when it could matter.
    if (bytes * 3 > maxBytes) {
      bytes = 0
      for (const p of prepared) {
        for (let i = 0; i < p.data.length; i++) {
          bytes += Buffer.byteLength(p.data[i] as string) + Buffer.byteLength(p.metadata[i] as string)
        }
      }
      if (bytes > maxBytes) throw new AppendLimitExceededError('bytes', maxBytes, bytes)
    }

    const ob = {
      event: [] as number[],
      ids: [] as string[],
      topics: [] as string[],
      keys: [] as string[],
      types: [] as string[],
      payloads: [] as string[],
      headers: [] as string[],
    }
    if (publish) {
      let eventIndex = 0
      for (const p of prepared) {
        const base = typeof p.expected === 'bigint' ? p.expected : p.expected === 'no-stream' ? 0n : null
        p.events.forEach((event, i) => {
          eventIndex++
          const eventId = p.ids[i] as string
          const metadata = p.metadataObjects[i] as EventMetadata
          const recorded: RecordedEvent = {
            type: event.type,
            data: event.data,
            eventId,
            streamId: p.streamId,
            streamVersion: base === null ? 0n : base + BigInt(i + 1),
            globalPosition: 0n,
            transactionId: 0n,
            schemaVersion: p.schemaVersions[i] as number,
            metadata,
            recordedAt: new Date(0),
          }
          const messages = publish(recorded)
          messages.forEach((message, m) => {
            const path = ['outbox', eventId, m]
            checkText(message.topic, 'outbox message', [...path, 'topic'])
            const headers: Record<string, string> = {}
            if (typeof metadata.correlationId === 'string') headers['correlation-id'] = metadata.correlationId
            if (typeof metadata.causationId === 'string') headers['causation-id'] = metadata.causationId
            Object.assign(headers, message.headers)
            ob.event.push(eventIndex)
            ob.ids.push(message.messageId ?? (messages.length === 1 ? eventId : outboxMessageId(eventId, m)))
            ob.topics.push(message.topic)
            ob.keys.push(checkText(message.partitionKey ?? p.streamId, 'outbox message', [...path, 'partitionKey']))
            ob.types.push(checkText(message.type ?? event.type, 'outbox message', [...path, 'type']))
            ob.payloads.push(
              toJsonText(message.payload === undefined ? (event.data ?? null) : message.payload, 'outbox message', [
                ...path,
                'payload',
              ]),
            )
            ob.headers.push(toJsonText(headers, 'outbox message', [...path, 'headers']))
          })
        })
      }
    }

    const values = [
      prepared.map((p) => p.streamId),
      prepared.map((p) => expectedCode(p.expected)),
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
    ]
    const context: AppendContext = {
      schema: names.schema,
      streams: prepared.map((p) => p.streamId),
      expected: prepared.map((p) => p.expected),
      importedAt: prepared.map((p) => (p.events[0] as ImportedEvent | undefined)?.recordedAt),
    }
    let rows: AppendRow[] = []
    try {
      const only = prepared[0]
      if (prepared.length === 1 && only && !imported && only.events.length > 0 && ob.event.length === 0) {
        const fast = await executor.query<AppendRow>(
          fastSql,
          [
            only.streamId,
            expectedCode(only.expected),
            only.events.length,
            only.ids,
            only.events.map((e) => e.type),
            only.schemaVersions,
            only.data,
            only.metadata,
            only.checkIds,
          ],
          fastName,
        )
        if (fast[0]?.o_next_version != null) rows = fast
      }
      if (rows.length === 0) rows = await executor.query<AppendRow>(appendSql, values, statementName)
    } catch (error) {
      throw mapPgError(error, context)
    }
    if (rows.length !== prepared.length) {
      throw new PgUnexpectedResultError(
        `The append function returned ${rows.length} rows for ${prepared.length} streams`,
      )
    }
    if (
      rows.some(
        (row, index) =>
          !(row.o_duplicate === true || row.o_duplicate === 't') && (prepared[index]?.events.length ?? 0) > 0,
      )
    ) {
      wakeReaders()
    }
    return rows.map((row, index) => {
      const p = prepared[index] as Prepared
      const next = BigInt(row.o_next_version)
      if (row.o_duplicate === true || row.o_duplicate === 't') {
        return { streamId: p.streamId, nextExpectedVersion: next, events: [], duplicate: true }
      }
      if (p.events.length === 0)
        return { streamId: p.streamId, nextExpectedVersion: next, events: [], duplicate: false }
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

  const readStreamSql = `SELECT (SELECT s.version::text FROM ${names.streams} s WHERE s.stream_id = $1) AS current_version, x.*
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
      SELECT ${EVENT_COLUMNS} FROM ${names.events} e
      WHERE e.stream_id = $1 AND e.stream_version >= $2::bigint
        AND ($3::bigint IS NULL OR e.stream_version <= $3::bigint)
        AND ($4::bigint IS NULL OR e.global_position <= $4::bigint)
        AND ($5::timestamptz IS NULL OR e.recorded_at <= $5::timestamptz)
      ORDER BY e.stream_version
      LIMIT $6::bigint
    ) AS x ON true`

  // The fence: every transaction below the oldest one still running has finished, so nothing can
  // appear below it any more. Reading in (transaction_id, global_position) order up to the fence
  // never skips an event that commits late.
  const readAllSql = `SELECT ${EVENT_COLUMNS} FROM ${names.events} e
    WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
      AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY e.transaction_id, e.global_position
    LIMIT $3::bigint`

  // One index range per type (type, transaction_id, global_position), merged: the sort sees at most
  // types x limit rows. When the batch is not full, the checkpoint jumps to the last event below the
  // fence, skipping filtered-out events without reading them.
  const readAllTypedSql = `WITH fence AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x),
    picked AS (
      SELECT p.* FROM unnest($4::text[]) AS t(type)
      CROSS JOIN LATERAL (
        SELECT e.global_position, e.transaction_id FROM ${names.events} e
        WHERE e.type = t.type AND (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
          AND e.transaction_id < (SELECT x FROM fence)
        ORDER BY e.transaction_id, e.global_position
        LIMIT $3::bigint
      ) AS p
      ORDER BY p.transaction_id, p.global_position
      LIMIT $3::bigint
    ),
    head AS (
      SELECT e.transaction_id, e.global_position FROM ${names.events} e
      WHERE e.transaction_id < (SELECT x FROM fence)
      ORDER BY e.transaction_id DESC, e.global_position DESC
      LIMIT 1
    )
    SELECT (SELECT h.transaction_id::text FROM head h) AS head_tx, (SELECT h.global_position::text FROM head h) AS head_pos, x.*
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
      SELECT ${EVENT_COLUMNS} FROM picked JOIN ${names.events} e
        ON e.transaction_id = picked.transaction_id AND e.global_position = picked.global_position
      ORDER BY e.transaction_id, e.global_position
    ) AS x ON true`

  function checkLimit(limit: number | undefined, fallback: number | null, min: number): number | null {
    if (limit === undefined) return fallback
    if (!Number.isInteger(limit) || limit < min) throw new InvalidArgumentError('limit', `must be an integer >= ${min}`)
    return limit
  }

  function checkAfter(after: LogCheckpoint = LOG_START): LogCheckpoint {
    if (after.transactionId < 0n || after.position < 0n) {
      throw new InvalidArgumentError('after', 'transactionId and position must be >= 0n')
    }
    return after
  }

  const countSql = `SELECT count(*)::text AS n FROM (
      SELECT 1 FROM ${names.events} e
      WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
        AND ($3::text[] IS NULL OR e.type = ANY ($3::text[]))
      LIMIT $4::bigint
    ) AS x`

  const store: PostgresEventStore = {
    names,

    async readStream<E extends Event = Event>(
      streamId: StreamId,
      readOptions?: ReadStreamOptions,
    ): Promise<ReadStreamResult<E>> {
      checkText(streamId, 'stream id', ['streamId'])
      const limit = checkLimit(readOptions?.limit, null, 0)
      let rows: (EventRow & { current_version: string | null })[]
      try {
        rows = await executor.query(readStreamSql, [
          streamId,
          (readOptions?.from ?? 1n).toString(),
          readOptions?.to?.toString() ?? null,
          readOptions?.untilPosition?.toString() ?? null,
          readOptions?.untilTime?.toISOString() ?? null,
          limit,
        ])
      } catch (error) {
        throw mapPgError(error, { schema: names.schema, streams: [streamId], expected: [] })
      }
      const currentVersion = BigInt(rows[0]?.current_version ?? '0')
      const events = rows.filter((row) => row.event_id !== null).map((row) => toRecordedEvent(row) as RecordedEvent<E>)
      return { events, currentVersion, streamExists: currentVersion > 0n }
    },

    async appendToStream<E extends Event = Event>(
      streamId: StreamId,
      events: readonly NewEvent<E>[],
      appendOptions?: AppendOptions,
    ): Promise<AppendResult<E>> {
      const [result] = await run(
        [{ streamId, events: events as readonly NewEvent[], expectedVersion: appendOptions?.expectedVersion ?? 'any' }],
        false,
      )
      return result as AppendResult<E>
    },

    async appendToStreams(appends: readonly StreamAppend[]): Promise<readonly AppendResult[]> {
      return run(appends, false)
    },

    async importToStream<E extends Event = Event>(
      streamId: StreamId,
      events: readonly ImportedEvent<E>[],
      appendOptions?: AppendOptions,
    ): Promise<AppendResult<E>> {
      const [result] = await run(
        [{ streamId, events: events as readonly NewEvent[], expectedVersion: appendOptions?.expectedVersion ?? 'any' }],
        true,
      )
      return result as AppendResult<E>
    },

    async readAll<E extends Event = Event>(readOptions?: ReadAllOptions): Promise<ReadAllResult<E>> {
      const after = checkAfter(readOptions?.after)
      const limit = checkLimit(readOptions?.limit, 1000, 1) as number
      const types = readOptions?.types ? [...new Set(readOptions.types)] : null
      try {
        if (types === null) {
          const rows = await executor.query<EventRow>(readAllSql, [
            after.transactionId.toString(),
            after.position.toString(),
            limit,
          ])
          const events = rows.map((row) => toRecordedEvent(row) as RecordedEvent<E>)
          const last = events[events.length - 1]
          const checkpoint = last ? { transactionId: last.transactionId, position: last.globalPosition } : after
          return { events, checkpoint, caughtUp: events.length < limit }
        }
        const rows = await executor.query<EventRow & { head_tx: string | null; head_pos: string | null }>(
          readAllTypedSql,
          [after.transactionId.toString(), after.position.toString(), limit, types],
        )
        const events = rows
          .filter((row) => row.event_id !== null)
          .map((row) => toRecordedEvent(row) as RecordedEvent<E>)
        const last = events[events.length - 1]
        if (events.length >= limit && last) {
          return {
            events,
            checkpoint: { transactionId: last.transactionId, position: last.globalPosition },
            caughtUp: false,
          }
        }
        const headTx = rows[0]?.head_tx
        const headPos = rows[0]?.head_pos
        let checkpoint = last ? { transactionId: last.transactionId, position: last.globalPosition } : after
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
        throw mapPgError(error, { schema: names.schema, streams: [], expected: [] })
      }
    },

    logFence(): Promise<LogFenceStatus> {
      return getLogFenceStatus(executor)
    },

    async countEvents(countOptions?: CountEventsOptions): Promise<number> {
      const after = checkAfter(countOptions?.after)
      const limit = checkLimit(countOptions?.limit, null, 0)
      const types = countOptions?.types ? [...countOptions.types] : null
      try {
        const [row] = await executor.query<{ n: string }>(countSql, [
          after.transactionId.toString(),
          after.position.toString(),
          types,
          limit,
        ])
        return Number(row?.n ?? 0)
      } catch (error) {
        throw mapPgError(error, { schema: names.schema, streams: [], expected: [] })
      }
    },
  }
  return store
}

function hashName(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 12)
}
