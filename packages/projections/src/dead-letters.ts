import type { RecordedEvent } from '@annals/core'
import type { Pool } from 'pg'
import type { ProjectionTables } from './names.js'

/** Why an event was parked: its handler failed, or an earlier event of its stream is parked. */
export type DeadLetterReason = 'failed' | 'blocked'

/** `parked` waits for a retry; `replayed` was applied later; `obsolete` belonged to a replaced generation. */
export type DeadLetterStatus = 'parked' | 'replayed' | 'obsolete'

/** One parked event of one projection generation. */
export type DeadLetter = Readonly<{
  id: bigint
  projection: string
  generation: number
  eventId: string
  eventType: string
  streamId: string
  streamVersion: bigint
  globalPosition: bigint
  transactionId: bigint
  reason: DeadLetterReason
  status: DeadLetterStatus
  error: string | null
  stack: string | null
  attempts: number
  retryRequestedAt: Date | null
  createdAt: Date
  resolvedAt: Date | null
}>

/** Filters of {@link DeadLetterStore.list}. */
export type ListDeadLettersOptions = Readonly<{
  projection?: string
  status?: DeadLetterStatus | 'all'
  limit?: number
}>

type Row = {
  id: string
  projection: string
  generation: number
  event_id: string
  event_type: string
  stream_id: string
  stream_version: string
  global_position: string
  transaction_id: string
  reason: DeadLetterReason
  status: DeadLetterStatus
  error: string | null
  stack: string | null
  attempts: number
  retry_requested_at: Date | null
  created_at: Date
  resolved_at: Date | null
}

const COLUMNS = `id::text, projection, generation, event_id, event_type, stream_id, stream_version::text,
  global_position::text, transaction_id::text, reason, status, error, stack, attempts, retry_requested_at, created_at, resolved_at`

function fromRow(r: Row): DeadLetter {
  return {
    id: BigInt(r.id),
    projection: r.projection,
    generation: r.generation,
    eventId: r.event_id,
    eventType: r.event_type,
    streamId: r.stream_id,
    streamVersion: BigInt(r.stream_version),
    globalPosition: BigInt(r.global_position),
    transactionId: BigInt(r.transaction_id),
    reason: r.reason,
    status: r.status,
    error: r.error,
    stack: r.stack,
    attempts: r.attempts,
    retryRequestedAt: r.retry_requested_at,
    createdAt: r.created_at,
    resolvedAt: r.resolved_at,
  }
}

/** One event to park, with what went wrong. */
export type ParkedEvent = Readonly<{
  event: RecordedEvent
  reason: DeadLetterReason
  error?: unknown
  attempts: number
}>

/** @internal The dead-letter table. Parking is guarded by the lease token, so a fenced worker parks nothing. */
export type DeadLetterStore = ReturnType<typeof createDeadLetterStore>

/** @internal */
export function createDeadLetterStore(
  pool: Pool,
  tables: ProjectionTables,
  leases: 'single' | 'partitioned' = 'single',
) {
  const t = tables.deadLetters
  // A partition token comes from one sequence, so it names its partition: no partition number needed.
  const leaseTable = leases === 'single' ? tables.leases : tables.partitionLeases
  const leaseHeld = `EXISTS (SELECT 1 FROM ${leaseTable} l WHERE l.projection = $1 AND l.token = $2::bigint)`
  return {
    /** Parks events (idempotent per event). Returns false when the lease was lost (nothing parked). */
    async park(
      projection: string,
      generation: number,
      token: bigint,
      parked: readonly ParkedEvent[],
    ): Promise<boolean> {
      if (parked.length === 0) return true
      const col = <T>(f: (p: ParkedEvent) => T) => parked.map(f)
      const message = (e: unknown) => (e === undefined ? null : e instanceof Error ? e.message : String(e))
      const stack = (e: unknown) => (e instanceof Error ? (e.stack ?? null) : null)
      const r = await pool.query(
        `INSERT INTO ${t} (projection, generation, event_id, event_type, stream_id, stream_version, global_position,
           transaction_id, reason, error, stack, attempts)
         SELECT $1, $3, x.* FROM unnest($4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[],
           $10::text[], $11::text[], $12::text[], $13::int[]) AS x
         WHERE ${leaseHeld}
         ON CONFLICT (projection, generation, event_id) DO NOTHING`,
        [
          projection,
          token.toString(),
          generation,
          col((p) => p.event.eventId),
          col((p) => p.event.type),
          col((p) => p.event.streamId),
          col((p) => p.event.streamVersion.toString()),
          col((p) => p.event.globalPosition.toString()),
          col((p) => p.event.transactionId.toString()),
          col((p) => p.reason),
          col((p) => message(p.error)),
          col((p) => stack(p.error)),
          col((p) => p.attempts),
        ],
      )
      if (r.rowCount === parked.length) return true
      const held = await pool.query(`SELECT 1 FROM ${leaseTable} l WHERE l.projection = $1 AND l.token = $2::bigint`, [
        projection,
        token.toString(),
      ])
      return held.rowCount === 1
    },
    /** Streams with a parked event in the generation: their later events must wait. */
    async blockedStreams(projection: string, generation: number): Promise<Set<string>> {
      const { rows } = await pool.query<{ stream_id: string }>(
        `SELECT DISTINCT stream_id FROM ${t} WHERE projection = $1 AND generation = $2 AND status = 'parked'`,
        [projection, generation],
      )
      return new Set(rows.map((r) => r.stream_id))
    },
    /**
     * Every parked letter of the streams in which a retry was requested, in log order per stream,
     * each marked as requested: a replay clears the mark letter by letter, so whoever waits for the
     * marks to go (the CLI's `dlq retry`) waits for the whole stream, not for its first letter.
     */
    async retryBatch(projection: string, generation: number): Promise<readonly DeadLetter[]> {
      const { rows } = await pool.query<Row>(
        // Qualified ORDER BY: the selected columns are text casts under the same names.
        `WITH marked AS (
           UPDATE ${t} SET retry_requested_at = coalesce(retry_requested_at, now())
            WHERE projection = $1 AND generation = $2 AND status = 'parked' AND stream_id IN (
              SELECT stream_id FROM ${t} WHERE projection = $1 AND generation = $2 AND status = 'parked'
                AND retry_requested_at IS NOT NULL)
           RETURNING *)
         SELECT ${COLUMNS} FROM marked d ORDER BY d.stream_id, d.transaction_id, d.global_position`,
        [projection, generation],
      )
      return rows.map(fromRow)
    },
    async markReplayed(ids: readonly bigint[]): Promise<void> {
      if (ids.length === 0) return
      await pool.query(
        `UPDATE ${t} SET status = 'replayed', resolved_at = now(), retry_requested_at = NULL
         WHERE id = ANY($1::bigint[]) AND status = 'parked'`,
        [ids.map(String)],
      )
    },
    async recordRetryFailure(id: bigint, error: unknown): Promise<void> {
      await pool.query(
        `UPDATE ${t} SET reason = 'failed', error = $2, stack = $3, attempts = attempts + 1 WHERE id = $1::bigint`,
        [
          id.toString(),
          error instanceof Error ? error.message : String(error),
          error instanceof Error ? (error.stack ?? null) : null,
        ],
      )
    },
    async clearRetryRequests(projection: string, generation: number): Promise<void> {
      await pool.query(
        `UPDATE ${t} SET retry_requested_at = NULL WHERE projection = $1 AND generation = $2 AND retry_requested_at IS NOT NULL`,
        [projection, generation],
      )
    },
    async markObsolete(projection: string, generation: number): Promise<void> {
      await pool.query(
        `UPDATE ${t} SET status = 'obsolete', resolved_at = now() WHERE projection = $1 AND generation = $2 AND status = 'parked'`,
        [projection, generation],
      )
    },
    async list(options: ListDeadLettersOptions = {}): Promise<readonly DeadLetter[]> {
      const status = options.status ?? 'parked'
      const { rows } = await pool.query<Row>(
        `SELECT ${COLUMNS} FROM ${t} d WHERE ($1::text IS NULL OR projection = $1) AND ($2::text = 'all' OR status = $2)
         ORDER BY d.id LIMIT $3`,
        [options.projection ?? null, status, options.limit ?? 1000],
      )
      return rows.map(fromRow)
    },
    async countParked(): Promise<Map<string, number>> {
      const { rows } = await pool.query<{ projection: string; n: string }>(
        `SELECT projection, count(*)::text AS n FROM ${t} WHERE status = 'parked' GROUP BY projection`,
      )
      return new Map(rows.map((r) => [r.projection, Number(r.n)]))
    },
    /** Parked letters of each stream of `projections` (a partitioned projection counts them per partition). */
    async countParkedByStream(
      projections: readonly string[],
    ): Promise<{ projection: string; streamId: string; n: number }[]> {
      if (projections.length === 0) return []
      const { rows } = await pool.query<{ projection: string; stream_id: string; n: string }>(
        `SELECT projection, stream_id, count(*)::text AS n FROM ${t}
         WHERE status = 'parked' AND projection = ANY($1::text[]) GROUP BY projection, stream_id`,
        [projections],
      )
      return rows.map((r) => ({ projection: r.projection, streamId: r.stream_id, n: Number(r.n) }))
    },
    /** Marks parked letters for a retry by the owning worker. Returns how many were marked. */
    async requestRetry(options: Readonly<{ projection?: string; id?: bigint }>): Promise<number> {
      const r = await pool.query(
        `UPDATE ${t} SET retry_requested_at = now() WHERE status = 'parked'
           AND ($1::text IS NULL OR projection = $1) AND ($2::bigint IS NULL OR id = $2::bigint)`,
        [options.projection ?? null, options.id?.toString() ?? null],
      )
      return r.rowCount ?? 0
    },
  }
}
