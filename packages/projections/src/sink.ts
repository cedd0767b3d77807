import type { LogCheckpoint } from '@annals/core'

/**
 * Which generation of which projection a sink call is about. A generation is one complete build of a
 * read model (a Redis key prefix, a set of Postgres tables, an Elasticsearch index).
 */
export type SinkTarget = Readonly<{
  projection: string
  generation: number
  /** The schema holding the projection tables (leases, dead letters, Postgres-side checkpoints). */
  schema: string
  /** The prefix of the projection tables' names in that schema (`''` or absent: none). */
  tablePrefix?: string
  /**
   * The partition of a partitioned projection (absent: unpartitioned). The sink keeps a checkpoint and
   * a fence per partition; every partition writes into the same generation's data.
   */
  partition?: number
}>

/**
 * One atomic unit of work for a sink: the handlers' writes plus the checkpoint move (or the dead
 * letters it replays). The sink must make it effectively-once: all or nothing, applied only when the
 * stored checkpoint still equals `expected` and no newer fencing token than `token` has been seen.
 */
export type SinkBatch<Ctx> = Readonly<{
  /** The fencing token of the worker's lease. A sink rejects a token lower than one it has seen. */
  token: bigint
  /** The checkpoint this batch was read after (`null`: nothing applied yet). Compare-and-set guard. */
  expected: LogCheckpoint | null
  /** The checkpoint to store with the writes; `null` keeps it unchanged (dead-letter replays). */
  checkpoint: LogCheckpoint | null
  /**
   * Dead-letter ids this batch replays. The sink records them with the writes and commits nothing when
   * any was recorded before, so a replay that crashed after the writes is never applied twice.
   */
  replayIds: readonly bigint[]
  /** Number of events (for metrics and bulk sizing). */
  size: number
  /** Runs the handlers against the sink's context. Throws `HandlerFailedError` naming the event. */
  apply(ctx: Ctx): Promise<void>
}>

/** What a sink reports after a commit attempt. */
export type SinkCommitResult =
  | Readonly<{ status: 'committed' }>
  /** A newer lease owner exists: nothing was written; the worker must stop this projection. */
  | Readonly<{ status: 'fenced' }>
  /** The stored checkpoint was not `expected` (another writer, or lost data): nothing was written. */
  | Readonly<{ status: 'conflict'; actual: LogCheckpoint | null }>
  /** Every `replayIds` entry had been applied before: nothing was written. */
  | Readonly<{ status: 'duplicate' }>

/** A per-event rejection that a sink reports after a bulk (it becomes a dead letter). */
export type SinkRejection = Readonly<{ index: number; error: Error }>

/**
 * The port a read-model store implements (Redis, Postgres tables, Elasticsearch…). `Ctx` is what
 * handlers receive to write with; the runner owns ordering, batching, retries, dead letters and leases.
 *
 * Contract:
 * - `prepare` creates a generation's storage; idempotent.
 * - `loadCheckpoint` returns the generation's checkpoint as stored *next to the data*; `null` means the
 *   generation holds nothing (never applied, or the data was lost) and the runner rebuilds it from zero.
 * - `commit` is atomic (or idempotent, with the checkpoint stored only after the writes succeeded),
 *   guarded by the fencing token and by a compare-and-set on the checkpoint. It may return
 *   `rejections` for single events the store refused (they are dead-lettered, the rest is kept).
 * - `fence` records a new fencing token at once, so a paused former owner is rejected even before the
 *   new owner's first commit.
 * - `activate` switches readers to the generation atomically; `drop` deletes a generation.
 */
export interface ReadModelSink<Ctx> {
  /** A short name for logs and metrics (`redis`, `postgres`, `elasticsearch`). */
  readonly kind: string
  prepare(target: SinkTarget): Promise<void>
  loadCheckpoint(target: SinkTarget): Promise<LogCheckpoint | null>
  commit(
    target: SinkTarget,
    batch: SinkBatch<Ctx>,
  ): Promise<SinkCommitResult & { rejections?: readonly SinkRejection[] }>
  fence(target: SinkTarget, token: bigint): Promise<void>
  /** The generation readers currently see, as recorded in the sink (`null` when none). */
  liveGeneration(target: Omit<SinkTarget, 'generation'>): Promise<number | null>
  /** Points readers at the generation; false when a newer fencing token exists (nothing changed). */
  activate(target: SinkTarget, token: bigint): Promise<boolean>
  drop(target: SinkTarget): Promise<void>
}

/** The handler context type of a sink. */
export type SinkContextOf<S> = S extends ReadModelSink<infer Ctx> ? Ctx : never
