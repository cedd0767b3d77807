import type { Pool, PoolClient } from 'pg'
import type { DriveResult } from '../engine/saga-engine-types.js'
import { sagaStreamId } from '../saga-definition.js'
import type { SagaTables } from './saga-tables.js'

// The SQL of the `saga_instances` work queue: rows are derived from the saga streams (the truth), so
// every statement here may be repeated or lost without harm beyond a delay.

type Db = Pool | PoolClient

/** An instance a worker claimed, with the database time of the claim. @internal */
export type ClaimedInstance = Readonly<{ saga: string; saga_id: string; wake_seq: string; attempts: number; now: Date }>

/** @internal Inserts the instance row if missing (due now). */
export async function ensureInstanceRow(db: Db, t: SagaTables, saga: string, sagaId: string): Promise<void> {
  await db.query(
    `INSERT INTO ${t.instances} (saga, saga_id, stream_id, wake_at) VALUES ($1, $2, $3, now())
     ON CONFLICT (saga, saga_id) DO NOTHING`,
    [saga, sagaId, sagaStreamId(saga, sagaId)],
  )
}

/** @internal Makes a running or compensating instance due now; the bumped `wake_seq` outlives a drive in flight. */
export async function wakeInstance(db: Db, t: SagaTables, saga: string, sagaId: string): Promise<void> {
  await db.query(
    `UPDATE ${t.instances} SET wake_at = now(), wake_seq = wake_seq + 1, updated_at = now()
     WHERE saga = $1 AND saga_id = $2 AND status IN ('running', 'compensating')`,
    [saga, sagaId],
  )
}

/** @internal Claims up to `limit` due, unlocked instances of `sagas` for `workerId` (`FOR UPDATE SKIP LOCKED`). */
export async function claimDueInstances(
  db: Db,
  t: SagaTables,
  claim: Readonly<{ sagas: readonly string[]; limit: number; workerId: string; lockTtlMs: number }>,
): Promise<ClaimedInstance[]> {
  const { rows } = await db.query<ClaimedInstance>(
    `WITH due AS (
       SELECT saga, saga_id FROM ${t.instances}
       WHERE wake_at <= now() AND saga = ANY($1::text[]) AND (locked_until IS NULL OR locked_until < now())
       ORDER BY wake_at LIMIT $2 FOR UPDATE SKIP LOCKED)
     UPDATE ${t.instances} i SET locked_by = $3, locked_until = now() + $4 * interval '1 millisecond'
     FROM due WHERE i.saga = due.saga AND i.saga_id = due.saga_id
     RETURNING i.saga, i.saga_id, i.wake_seq::text AS wake_seq, i.attempts, now() AS now`,
    [claim.sagas, claim.limit, claim.workerId, claim.lockTtlMs],
  )
  return rows
}

/** @internal Records where a drive left the instance and releases it. */
export async function recordDriven(
  db: Db,
  t: SagaTables,
  row: ClaimedInstance,
  workerId: string,
  result: DriveResult,
): Promise<void> {
  // A wake-up that came in during the drive (wake_seq moved) keeps the instance due.
  await db.query(
    `UPDATE ${t.instances} SET status = $4, current_step = $5, version = $6, deadline_at = $7,
       wake_at = CASE WHEN wake_seq = $8::bigint THEN $7 ELSE wake_at END,
       attempts = 0, last_error = NULL, locked_by = NULL, locked_until = NULL, updated_at = now()
     WHERE saga = $1 AND saga_id = $2 AND locked_by = $3`,
    [
      row.saga,
      row.saga_id,
      workerId,
      result.status,
      result.currentStep,
      result.version.toString(),
      result.wakeAt,
      row.wake_seq,
    ],
  )
}

/** @internal Records a failed drive and releases the instance, due again after `retryInMs`. */
export async function recordDriveFailed(
  db: Db,
  t: SagaTables,
  row: ClaimedInstance,
  failure: Readonly<{ workerId: string; attempts: number; error: string; retryInMs: number }>,
): Promise<void> {
  await db.query(
    `UPDATE ${t.instances} SET attempts = $4, last_error = $5,
       wake_at = CASE WHEN wake_seq = $6::bigint THEN now() + $7 * interval '1 millisecond' ELSE wake_at END,
       locked_by = NULL, locked_until = NULL, updated_at = now()
     WHERE saga = $1 AND saga_id = $2 AND locked_by = $3`,
    [row.saga, row.saga_id, failure.workerId, failure.attempts, failure.error, row.wake_seq, failure.retryInMs],
  )
}

/** @internal Extends the claims `workerId` holds by `lockTtlMs`. */
export async function renewInstanceLocks(db: Db, t: SagaTables, workerId: string, lockTtlMs: number): Promise<void> {
  await db.query(
    `UPDATE ${t.instances} SET locked_until = now() + $2 * interval '1 millisecond' WHERE locked_by = $1`,
    [workerId, lockTtlMs],
  )
}
