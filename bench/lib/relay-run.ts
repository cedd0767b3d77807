import type { EventPublisher } from '@annals/core'
import { createOutboxRelay } from '@annals/outbox'
import type pg from 'pg'
import { ANNALS_SCHEMA } from './annals-store.js'
import { libraryLogger, type RunResult, timed } from './context.js'

const STUCK_MS = 120_000

/** Waits for `work`, failing the run after `ms` (a stuck side must not hang the suite). */
export async function within(work: Promise<unknown>, what: () => string, ms = STUCK_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what()} in ${ms / 1000} s`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** An outbox relay that a workload runs until a given number of messages were acknowledged. */
export type CountingRelay = Readonly<{
  /** Runs the relay's own `start()` loop until `n` messages were acknowledged and `stop()` returned. */
  drain(n: number): Promise<RunResult>
}>

/**
 * The relay as an application runs it, around a publisher that counts what the broker acknowledged:
 * the run stops the relay once the outbox is drained without a poll of its own competing with the
 * relay for the same two cores. Only the relay's loop is timed, until `stop()` has waited for the last
 * batch to be marked sent.
 */
export function createCountingRelay(
  options: Readonly<{ pool: pg.Pool; publisher: EventPublisher; batchSize: number }>,
): CountingRelay {
  let acked = 0
  let target = Number.POSITIVE_INFINITY
  let drained: () => void = () => undefined
  const relay = createOutboxRelay({
    pool: options.pool,
    schema: ANNALS_SCHEMA,
    publisher: {
      async publish(messages) {
        await options.publisher.publish(messages)
        acked += messages.length
        if (acked >= target) drained()
      },
    },
    batchSize: options.batchSize,
    logger: libraryLogger(),
  })
  return {
    async drain(n) {
      acked = 0
      target = n
      const allAcked = new Promise<void>((resolve) => {
        drained = resolve
      })
      return timed(async () => {
        await relay.start()
        try {
          await within(allAcked, () => `relay acknowledged ${acked} of ${n} messages`)
        } finally {
          await relay.stop()
        }
        return acked
      })
    },
  }
}
