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
import { PgInvalidOptionError, PgTenantScopeError } from '../errors.js'
import { type LogFenceStatus, readLogFenceStatus } from '../log-fence.js'
import { type StoreConnection, toExecutor } from '../sql/executor.js'
import { type StoreTables, storeTables } from '../store-tables.js'
import { ALL_TENANTS, checkTenant, DEFAULT_TENANT, type TenantScope, tenantRunner } from '../tenancy.js'
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
    /**
     * `'single'` (default): the store is the default tenant's, as before tenancy existed, and
     * `forTenant(id)` gives other tenants' handles. `'multi'`: the store itself refuses every read and
     * write with `ANNALS_PG_ERR_TENANT_SCOPE`; only `forTenant(id)` / `forTenant(ALL_TENANTS)` handles work.
     */
    tenancy?: 'single' | 'multi'
    /**
     * The pool's role is subject to the tables' row-level security (not their owner): every statement
     * then runs with the tenant setting, reads in a transaction of their own (two more round trips;
     * the append stays one). Default false: the tables' owner, filtered by the store's own WHERE clauses.
     */
    rowLevelSecurity?: boolean
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
  /** The tenant this handle reads and writes; null for an `ALL_TENANTS` reader or an unscoped multi-tenant store. */
  readonly tenant: string | null
  /**
   * A handle on one tenant's streams, log, counts: streams of other tenants with the same ids never
   * meet it. Handles are cached per tenant (cheap to ask for per request). With `ALL_TENANTS`, a reader
   * of every tenant's global log (events carry `tenantId`; stream reads and appends are refused).
   * @example const acme = store.forTenant('acme'); await acme.appendToStream('account-1', events)
   */
  forTenant(tenant: TenantScope): PostgresEventStore
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
  const tenancy = options.tenancy ?? 'single'
  if (tenancy !== 'single' && tenancy !== 'multi')
    throw new PgInvalidOptionError('tenancy', "must be 'single' or 'multi'")
  const rowLevelSecurity = options.rowLevelSecurity === true
  const append = createAppend(
    names,
    executor,
    resolveLimits(options.limits),
    options.outbox?.publish,
    resolveGroupCommit(options.groupCommit),
  )
  const handles = new Map<string | typeof ALL_TENANTS, PostgresEventStore>()

  function forTenant(scope: TenantScope): PostgresEventStore {
    let handle = handles.get(scope)
    if (!handle) {
      const tenant = scope === ALL_TENANTS ? null : checkTenant(scope, 'tenant')
      handle = scoped(tenant, true)
      handles.set(scope, handle)
    }
    return handle
  }

  function unscoped(): PostgresEventStore {
    const refuse = () =>
      Promise.reject(
        new PgTenantScopeError(
          "This store was created with tenancy: 'multi': use store.forTenant(id) (or ALL_TENANTS to read)",
        ),
      )
    return {
      names,
      tenant: null,
      forTenant,
      readStream: refuse,
      readAll: refuse,
      countEvents: refuse,
      logHead: refuse,
      appendToStream: refuse,
      appendToStreams: refuse,
      importToStream: refuse,
      logFence: () => readLogFenceStatus(executor),
    }
  }

  function scoped(tenant: string | null, withTenant: boolean): PostgresEventStore {
    // The default tenant without RLS sets nothing: the append's message is the one it always was.
    const setting = tenant === DEFAULT_TENANT && !rowLevelSecurity ? null : tenant
    const reads = createLogReads(names, tenantRunner(executor, { tenant, rowLevelSecurity }), {
      tenant,
      withTenant,
    })
    const write = (appends: readonly StreamAppend[], imported: boolean): Promise<AppendResult[]> => {
      if (tenant === null) {
        return Promise.reject(
          new PgTenantScopeError('The ALL_TENANTS reader cannot append: append through forTenant(id)'),
        )
      }
      return append(appends, imported, setting)
    }
    const appendOne = async (
      streamId: StreamId,
      events: readonly NewEvent[],
      appendOptions: AppendOptions | undefined,
      imported: boolean,
    ): Promise<AppendResult> => {
      const [result] = await write(
        [{ streamId, events, expectedVersion: appendOptions?.expectedVersion ?? 'any' }],
        imported,
      )
      return result as AppendResult
    }
    return {
      names,
      tenant,
      forTenant,
      readStream: reads.readStream,
      readAll: reads.readAll,
      countEvents: reads.countEvents,
      logHead: reads.logHead,

      async appendToStream<E extends Event = Event>(
        streamId: StreamId,
        events: readonly NewEvent<E>[],
        appendOptions?: AppendOptions,
      ): Promise<AppendResult<E>> {
        return appendOne(streamId, events, appendOptions, false) as Promise<AppendResult<E>>
      },

      async appendToStreams(appends: readonly StreamAppend[]): Promise<readonly AppendResult[]> {
        return write(appends, false)
      },

      async importToStream<E extends Event = Event>(
        streamId: StreamId,
        events: readonly ImportedEvent<E>[],
        appendOptions?: AppendOptions,
      ): Promise<AppendResult<E>> {
        return appendOne(streamId, events, appendOptions, true) as Promise<AppendResult<E>>
      },

      logFence(): Promise<LogFenceStatus> {
        return readLogFenceStatus(executor)
      },
    }
  }

  return tenancy === 'multi' ? unscoped() : scoped(DEFAULT_TENANT, false)
}
