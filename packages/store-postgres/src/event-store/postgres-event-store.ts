import type {
  AppendOptions,
  AppendResult,
  Event,
  EventStore,
  ImportedEvent,
  NewEvent,
  StreamAppend,
  StreamId,
} from '@annals/core'
import { type LogFenceStatus, readLogFenceStatus } from '../log-fence.js'
import { type StoreConnection, toExecutor } from '../sql/executor.js'
import { type StoreTables, storeTables } from '../store-tables.js'
import { createAppend } from './append.js'
import { type AppendLimits, resolveLimits } from './append-input.js'
import { type GroupCommitOptions, resolveGroupCommit } from './group-commit.js'
import { type CountEventsOptions, createLogReads, type LogHead, type LogHeadOptions } from './log-reads.js'
import type { OutboxOptions } from './outbox-rows.js'

/** Options of {@link createPostgresEventStore}. */
export type PostgresEventStoreOptions = StoreConnection &
  Readonly<{
    /** Schema holding the tables (default `annals`). */
    schema?: string
    /** Prefix of every table name (default none). */
    tablePrefix?: string
    limits?: AppendLimits
    outbox?: OutboxOptions
    /**
     * Group commit (default off): concurrent `appendToStream` calls share one transaction and one
     * statement, each with its own expected-version check, result and error (a conflict or a bad
     * event fails only its own append). `true` takes the defaults of {@link GroupCommitOptions}.
     */
    groupCommit?: boolean | GroupCommitOptions
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
  /**
   * The committed events after `after` (of `types`), fence or not, and how many of them the fence
   * holds back and by which transaction: a reader's lag measured from the head of the log, where
   * `readAll` stops at the fence. Counts stop at `limit` (default 1,000,000).
   * @example const { pending, held, holder } = await store.logHead({ after: checkpoint, types: ['MoneyDeposited'] })
   */
  logHead(options?: LogHeadOptions): Promise<LogHead>
  /** Schema, prefix, qualified table names and NOTIFY channel in use. */
  readonly names: StoreTables
}

/**
 * Creates the Postgres event store over a caller-owned `pg.Pool` (or PGlite, or Kysely). On a pool an
 * append is one round trip, its commit and the readers' wake-up included; a stale expected version
 * fails without waiting for the writer that made it stale where the committed version proves it.
 * @example const store = createPostgresEventStore({ pool, schema: 'annals' })
 */
export function createPostgresEventStore(options: PostgresEventStoreOptions): PostgresEventStore {
  const names = storeTables(options)
  const executor = toExecutor(options)
  const append = createAppend(
    names,
    executor,
    resolveLimits(options.limits),
    options.outbox?.publish,
    resolveGroupCommit(options.groupCommit),
  )
  const reads = createLogReads(names, executor)

  return {
    names,
    readStream: reads.readStream,
    readAll: reads.readAll,
    countEvents: reads.countEvents,
    logHead: reads.logHead,

    async appendToStream<E extends Event = Event>(
      streamId: StreamId,
      events: readonly NewEvent<E>[],
      appendOptions?: AppendOptions,
    ): Promise<AppendResult<E>> {
      const [result] = await append(
        [{ streamId, events: events as readonly NewEvent[], expectedVersion: appendOptions?.expectedVersion ?? 'any' }],
        false,
      )
      return result as AppendResult<E>
    },

    async appendToStreams(appends: readonly StreamAppend[]): Promise<readonly AppendResult[]> {
      return append(appends, false)
    },

    async importToStream<E extends Event = Event>(
      streamId: StreamId,
      events: readonly ImportedEvent<E>[],
      appendOptions?: AppendOptions,
    ): Promise<AppendResult<E>> {
      const [result] = await append(
        [{ streamId, events: events as readonly NewEvent[], expectedVersion: appendOptions?.expectedVersion ?? 'any' }],
        true,
      )
      return result as AppendResult<E>
    },

    logFence(): Promise<LogFenceStatus> {
      return readLogFenceStatus(executor)
    },
  }
}
