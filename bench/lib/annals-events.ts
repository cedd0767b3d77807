import { type EventStore, isConcurrencyError, LOG_START, type LogCheckpoint, type NewEvent } from '@annals/core'
import type pg from 'pg'
import { progress } from './context.js'
import { type BenchEvent, makeEvents, makeMetadata } from './domain.js'
import { nowMs } from './stats.js'

/** Events as an application appends them: type, data and correlation metadata. */
export function newEvents(streamId: string, from: number, n: number): NewEvent<BenchEvent>[] {
  return makeEvents(streamId, from, n).map((e) => ({ ...e, metadata: makeMetadata() }))
}

/**
 * 8 writers racing on one stream with expected versions for `ms`; returns successes, conflicts, the
 * latency of each successful append call, and of each success from its first attempt (retries
 * included: what a caller of a retrying command handler waits).
 */
export async function hotStream(
  store: EventStore,
  streamId: string,
  ms: number,
): Promise<{ ok: number; conflicts: number; successMs: number[]; sinceFirstAttemptMs: number[] }> {
  const deadline = nowMs() + ms
  let ok = 0
  let conflicts = 0
  const successMs: number[] = []
  const sinceFirstAttemptMs: number[] = []
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      let known = 0n
      let started = nowMs()
      while (nowMs() < deadline) {
        const attempt = nowMs()
        try {
          const r = await store.appendToStream(streamId, newEvents(streamId, Number(known) + 1, 1), {
            expectedVersion: known,
          })
          known = r.nextExpectedVersion
          ok++
          successMs.push(nowMs() - attempt)
          sinceFirstAttemptMs.push(nowMs() - started)
          started = nowMs()
        } catch (error) {
          if (!isConcurrencyError(error)) throw error
          conflicts++
          known = error.actual
        }
      }
    }),
  )
  return { ok, conflicts, successMs, sinceFirstAttemptMs }
}

/** Appends `total` events over 100 streams in appends of up to 1,000 events. */
export async function seedLog(store: EventStore, total: number, label: string): Promise<void> {
  const perStream = Math.max(1, Math.ceil(total / 100))
  let lastReport = 0
  for (let done = 0; done < total; ) {
    const n = Math.min(1000, total - done, perStream - (done % perStream))
    const id = `acct-${Math.floor(done / perStream)}`
    await store.appendToStream(id, newEvents(id, (done % perStream) + 1, n))
    done += n
    if (done - lastReport >= 100_000) {
      lastReport = done
      progress(`  ${label}: appended ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`)
    }
  }
}

/** Reads the whole log with `readAll` in batches of 1,000; returns the number of events. */
export async function readWholeLog(store: EventStore): Promise<number> {
  let after: LogCheckpoint = LOG_START
  let count = 0
  for (;;) {
    const batch = await store.readAll({ after, limit: 1000 })
    count += batch.events.length
    after = batch.checkpoint
    if (batch.caughtUp || batch.events.length === 0) break
  }
  return count
}

/**
 * Waits (untimed) until every event in `schema.events` is below the log fence, the oldest running
 * transaction of the whole server: until then the gap-safe reader rightly holds those events back.
 * On a shared server a long transaction in any database holds every reader back. Returns the wait (ms).
 */
export async function waitForFence(pool: pg.Pool, schema: string, timeoutMs = 120_000): Promise<number> {
  const t0 = nowMs()
  let warned = false
  for (;;) {
    const { rows } = await pool.query<{ ok: boolean; holder: string | null }>(
      `SELECT coalesce((SELECT max(transaction_id) FROM ${schema}.events) < pg_snapshot_xmin(pg_current_snapshot()), true) AS ok,
              (SELECT datname || ' pid ' || pid || ' open ' || round(extract(epoch FROM now() - xact_start))::text || ' s: ' || left(query, 60)
                 FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() ORDER BY xact_start LIMIT 1) AS holder`,
    )
    const row = rows[0]
    if (row?.ok) return nowMs() - t0
    if (!warned && nowMs() - t0 > 2000) {
      warned = true
      progress(`  waiting for the log fence (held by ${row?.holder ?? 'an older transaction'})`)
    }
    if (nowMs() - t0 > timeoutMs) throw new Error(`log fence did not pass the seeded events within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
