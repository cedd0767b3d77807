import { integerOption } from '@annals/core/runtime'
import { PgInvalidOptionError } from '../errors.js'

/**
 * Group commit: concurrent `appendToStream` calls of one store share a transaction and a statement.
 * Each append keeps its own expected-version check and its own result or error.
 */
export type GroupCommitOptions = Readonly<{
  /** Most appends in one shared transaction. Default 64. */
  maxBatch?: number
  /** Most shared transactions in flight at once, each on its own pool connection. Default 2. */
  maxInFlight?: number
  /**
   * How long the first append of a batch waits for company, in ms. Default 0: a batch leaves as soon
   * as fewer than `maxInFlight` are in flight; the appends arriving meanwhile leave together next.
   */
  windowMs?: number
}>

/** @internal One append waiting for its batch. */
export type GroupMember<T, R> = Readonly<{ item: T; resolve: (result: R) => void; reject: (error: unknown) => void }>

/** @internal Validated group-commit settings. */
export type GroupCommitSettings = Readonly<{ maxBatch: number; maxInFlight: number; windowMs: number }>

/** @internal Validates the `groupCommit` option (`true` takes every default). */
export function resolveGroupCommit(option: boolean | GroupCommitOptions | undefined): GroupCommitSettings | null {
  if (option === undefined || option === false) return null
  const o = option === true ? {} : option
  const invalid = (name: string, reason: string) => new PgInvalidOptionError(`groupCommit.${name}`, reason)
  return {
    maxBatch: integerOption('maxBatch', o.maxBatch, 64, 1, invalid),
    maxInFlight: integerOption('maxInFlight', o.maxInFlight, 2, 1, invalid),
    windowMs: integerOption('windowMs', o.windowMs, 0, 0, invalid),
  }
}

/**
 * @internal Queues items and hands them to `commit` in batches: at most `maxInFlight` batches at a
 * time, so that under load the appends that arrive while the connections are busy leave together
 * (no timer needed: an idle store sends an append at once, after the current macrotask). `commit`
 * settles every member of its batch; if it throws, the members it left unsettled get the error.
 */
export function createGroupCommit<T, R>(
  settings: GroupCommitSettings,
  commit: (batch: readonly GroupMember<T, R>[]) => Promise<void>,
): (item: T) => Promise<R> {
  const queue: GroupMember<T, R>[] = []
  let inFlight = 0
  let scheduled = false

  function flush(): void {
    scheduled = false
    while (inFlight < settings.maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, settings.maxBatch)
      inFlight++
      commit(batch)
        .catch((error) => {
          for (const member of batch) member.reject(error)
        })
        .finally(() => {
          inFlight--
          schedule()
        })
    }
  }

  function schedule(): void {
    if (scheduled || queue.length === 0 || inFlight >= settings.maxInFlight) return
    scheduled = true
    if (settings.windowMs > 0) setTimeout(flush, settings.windowMs)
    else setImmediate(flush)
  }

  return (item) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject })
      schedule()
    })
}
