import type { EventStore, RecordedEvent } from '@annals/core'
import type { Pool } from 'pg'
import { InvalidSagaOptionError, SagaNotFoundError } from '../errors.js'
import { sagaStreamId } from '../saga-definition.js'
import type { SagaEvent } from '../saga-events.js'
import { foldSaga, SAGA_STATUSES, type SagaState, type SagaStatus } from '../saga-state.js'
import { sagaTables } from './saga-tables.js'

/** One saga instance as listed (from the `saga_instances` table). */
export type SagaSummary = Readonly<{
  saga: string
  sagaId: string
  streamId: string
  status: SagaStatus
  /** The step in progress (forward or being undone), null once ended. */
  currentStep: string | null
  /** The saga stream's version the row reflects. */
  version: bigint
  /** When a worker drives it next without an event (now, or a step deadline). */
  wakeAt: Date | null
  /** The deadline of the step awaiting confirmation. */
  deadlineAt: Date | null
  /** Failed drive attempts in a row (infrastructure errors; retried with backoff). */
  attempts: number
  lastError: string | null
  lockedBy: string | null
  startedAt: Date
  updatedAt: Date
}>

/** Filters of {@link listSagas}. */
export type ListSagasOptions = Readonly<{
  pool: Pool
  /** Schema of the saga tables. Default `annals`. */
  schema?: string
  /** Prefix of the saga tables' names, as given to `migrateSagas`. Default none. */
  tablePrefix?: string
  status?: SagaStatus | readonly SagaStatus[]
  /** Only instances of this saga (its definition name). */
  saga?: string
  /** Default 100, at most 1000. Newest updates first. */
  limit?: number
  offset?: number
}>

type Row = {
  saga: string
  saga_id: string
  stream_id: string
  status: SagaStatus
  current_step: string | null
  version: string
  wake_at: Date | null
  deadline_at: Date | null
  attempts: number
  last_error: string | null
  locked_by: string | null
  started_at: Date
  updated_at: Date
}

const COLUMNS = `saga, saga_id, stream_id, status, current_step, version::text AS version, wake_at, deadline_at,
  attempts, last_error, locked_by, started_at, updated_at`

function toSummary(row: Row): SagaSummary {
  return {
    saga: row.saga,
    sagaId: row.saga_id,
    streamId: row.stream_id,
    status: row.status,
    currentStep: row.current_step,
    version: BigInt(row.version),
    wakeAt: row.wake_at,
    deadlineAt: row.deadline_at,
    attempts: row.attempts,
    lastError: row.last_error,
    lockedBy: row.locked_by,
    startedAt: row.started_at,
    updatedAt: row.updated_at,
  }
}

/**
 * Lists saga instances by status (running, compensating, completed, compensated, failed) and saga
 * name, most recently updated first. For the `annals` CLI and dashboards.
 * @example
 * const stuck = await listSagas({ pool, status: ['failed', 'compensating'] })
 */
export async function listSagas(options: ListSagasOptions): Promise<readonly SagaSummary[]> {
  const t = sagaTables(options)
  const statuses =
    options.status === undefined ? null : typeof options.status === 'string' ? [options.status] : [...options.status]
  for (const status of statuses ?? []) {
    if (!SAGA_STATUSES.includes(status)) {
      throw new InvalidSagaOptionError('status', `"${String(status)}" is not one of ${SAGA_STATUSES.join(', ')}`)
    }
  }
  const limit = options.limit ?? 100
  const offset = options.offset ?? 0
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidSagaOptionError('limit', 'must be an integer from 1 to 1000')
  }
  if (!Number.isInteger(offset) || offset < 0) throw new InvalidSagaOptionError('offset', 'must be an integer >= 0')
  const { rows } = await options.pool.query<Row>(
    `SELECT ${COLUMNS} FROM ${t.instances}
     WHERE ($1::text[] IS NULL OR status = ANY($1::text[])) AND ($2::text IS NULL OR saga = $2)
     ORDER BY updated_at DESC, saga, saga_id LIMIT $3 OFFSET $4`,
    [statuses, options.saga ?? null, limit, offset],
  )
  return rows.map(toSummary)
}

/** How many instances are in each status (optionally of one saga). */
export async function countSagas(
  options: Readonly<{ pool: Pool; schema?: string; tablePrefix?: string; saga?: string }>,
): Promise<Readonly<Record<SagaStatus, number>>> {
  const t = sagaTables(options)
  const { rows } = await options.pool.query<{ status: SagaStatus; n: string }>(
    `SELECT status, count(*)::text AS n FROM ${t.instances} WHERE ($1::text IS NULL OR saga = $1) GROUP BY status`,
    [options.saga ?? null],
  )
  const counts = Object.fromEntries(SAGA_STATUSES.map((s) => [s, 0])) as Record<SagaStatus, number>
  for (const row of rows) counts[row.status] = Number(row.n)
  return counts
}

/** One entry of a saga's step history. */
export type SagaHistoryEntry = Readonly<{
  version: bigint
  type: SagaEvent['type']
  /** The step the entry is about (null for saga-level entries). */
  step: string | null
  recordedAt: Date
  data: unknown
}>

/** One saga instance in full: its row (when a pool was given), its folded state and its history. */
export type SagaDetails = Readonly<{
  summary: SagaSummary | null
  state: SagaState
  history: readonly SagaHistoryEntry[]
}>

/** What {@link getSaga} reads from. */
export type GetSagaOptions = Readonly<{
  store: EventStore
  /** With a pool, the instance's row (wake-up, deadline, lock, last error) is included. */
  pool?: Pool
  /** Schema of the saga tables. Default `annals`. */
  schema?: string
  /** Prefix of the saga tables' names, as given to `migrateSagas`. Default none. */
  tablePrefix?: string
}>

/**
 * One saga instance's state and step history, read from its own stream (no definition needed, so
 * the CLI can show any saga). Throws `ANNALS_SAGA_ERR_NOT_FOUND` when there is no such instance.
 */
export async function getSaga(options: GetSagaOptions, saga: string, sagaId: string): Promise<SagaDetails> {
  const read = await options.store.readStream<SagaEvent>(sagaStreamId(saga, sagaId))
  const state = foldSaga(read.events)
  if (!state) throw new SagaNotFoundError(saga, sagaId)
  let summary: SagaSummary | null = null
  if (options.pool) {
    const t = sagaTables(options)
    const { rows } = await options.pool.query<Row>(
      `SELECT ${COLUMNS} FROM ${t.instances} WHERE saga = $1 AND saga_id = $2`,
      [saga, sagaId],
    )
    summary = rows[0] ? toSummary(rows[0]) : null
  }
  const history = read.events.map(
    (event: RecordedEvent<SagaEvent>): SagaHistoryEntry => ({
      version: event.streamVersion,
      type: event.type,
      step: 'step' in event.data && typeof event.data.step === 'string' ? event.data.step : null,
      recordedAt: event.recordedAt,
      data: event.data,
    }),
  )
  return { summary, state, history }
}
