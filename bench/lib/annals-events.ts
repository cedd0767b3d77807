import { type EventStore, isConcurrencyError, LOG_START, type LogCheckpoint, type NewEvent } from '@annals/core'
import { progress } from './context.js'
import { type BenchEvent, makeEvents, makeMetadata } from './domain.js'
import { nowMs } from './stats.js'

/** Events as an application appends them: type, data and correlation metadata. */
export function newEvents(streamId: string, from: number, n: number): NewEvent<BenchEvent>[] {
  return makeEvents(streamId, from, n).map((e) => ({ ...e, metadata: makeMetadata() }))
}

/** 8 writers racing on one stream with expected versions for `ms`; returns successes and conflicts. */
export async function hotStream(
  store: EventStore,
  streamId: string,
  ms: number,
): Promise<{ ok: number; conflicts: number }> {
  const deadline = nowMs() + ms
  let ok = 0
  let conflicts = 0
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      let known = 0n
      while (nowMs() < deadline) {
        try {
          const r = await store.appendToStream(streamId, newEvents(streamId, Number(known) + 1, 1), {
            expectedVersion: known,
          })
          known = r.nextExpectedVersion
          ok++
        } catch (error) {
          if (!isConcurrencyError(error)) throw error
          conflicts++
          known = error.actual
        }
      }
    }),
  )
  return { ok, conflicts }
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
