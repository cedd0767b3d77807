import type pg from 'pg'
import { checkOut } from '../sql/check-out.js'
import { rawTypes, type SqlExecutor } from '../sql/executor.js'
import { TENANT_SETTING } from '../tenancy.js'
import type { AppendRow, AppendStatement } from './append-sql.js'

/** @internal Runs one append statement and, when it committed, wakes the store's readers. */
export type AppendRunner = (
  statement: AppendStatement,
  values: readonly SqlValue[],
  /** The transaction's tenant setting; null leaves it unset (the default tenant, no extra statement). */
  tenant: string | null,
) => Promise<AppendRow[]>

/** @internal What an append statement takes: text, numbers, booleans, null, and flat arrays of those. */
export type SqlValue = string | number | boolean | null | readonly (string | number | boolean | null)[]

// 26000: the connection lost its prepared statement (DISCARD ALL behind a pooler); 42P05: another
// store on this connection prepared the same statement (same tables) first.
const NO_SUCH_STATEMENT = '26000'
const STATEMENT_EXISTS = '42P05'

/**
 * @internal The SQLSTATE of an error the server reported on a session that goes on; undefined when the
 * connection itself failed: a socket error (its `code` is Node's, such as `ECONNRESET`), a lost
 * connection (`PgConnectionLostError`), or a FATAL report, after which the server closes the session.
 */
export function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  // Only the server's reports carry a severity (node-postgres' and PGlite's DatabaseError alike).
  const { code, severity } = error as { code?: unknown; severity?: unknown }
  if (typeof code !== 'string' || typeof severity !== 'string') return undefined
  return severity === 'FATAL' || severity === 'PANIC' ? undefined : code
}

// SQLSTATEs that arrive as a server error but end the session: class 08 (connection exception) and
// 57P01-57P03 (the backend was terminated or the server is shutting down).
const SESSION_ENDED = /^(08|57P0[123])/

/**
 * @internal True for the server's report that a statement failed on a connection that lives on: the
 * explicit block (or the statement) was rolled back, so nothing of the append was written. False for
 * anything else: a socket error, a closed connection, a client-side timeout, a terminated backend.
 */
export function isStatementError(error: unknown): boolean {
  const code = codeOf(error)
  return code !== undefined && !SESSION_ENDED.test(code)
}

/**
 * @internal The append's message was sent and its connection failed before the answer: the COMMIT
 * may have run. The append turns it into `PgAppendOutcomeUnknownError`, naming the streams and ids.
 */
export class AppendMessageLost extends Error {
  constructor(cause: unknown) {
    super('The connection failed while an append was in flight', { cause })
    this.name = 'AppendMessageLost'
  }
}

// Errors of opening a connection: nothing was sent.
const NOT_SENT_SYSCALLS = new Set(['connect', 'getaddrinfo'])

/** An element of a Postgres array literal: quoted, with `"` and `\` escaped. */
function arrayElement(value: string | number | boolean | null): string {
  if (value === null) return 'NULL'
  return `"${String(value).replace(/[\\"]/g, '\\$&')}"`
}

function textOf(value: SqlValue): string | null {
  if (value === null) return null
  if (Array.isArray(value)) return `{${value.map(arrayElement).join(',')}}`
  return String(value)
}

/**
 * @internal When appends carry the readers' wake-up. A NOTIFY executed at time T wakes readers who
 * then see every commit before T, so one NOTIFY can cover many appends: an append message carries
 * one only if none was sent in the last `windowMs` (under load, ~1 per window instead of one per
 * append: 16 writers ran ~30% faster). An append that wrote without carrying one is covered by the
 * next message that does, or, if none is sent within the window, by a NOTIFY of its own (at most one
 * in flight). Wake-ups are hints: readers also poll, so a failed one is dropped.
 */
function createWakeSchedule(windowMs: number, notify: () => Promise<unknown>) {
  let lastCarried = Number.NEGATIVE_INFINITY
  let owed = false
  let timer: NodeJS.Timeout | undefined
  let inFlight = false

  function sendAlone(): void {
    timer = undefined
    if (!owed) return
    if (inFlight) {
      arm()
      return
    }
    owed = false
    lastCarried = performance.now()
    inFlight = true
    notify()
      .catch(() => undefined)
      .finally(() => {
        inFlight = false
      })
  }

  function arm(): void {
    if (timer) return
    timer = setTimeout(sendAlone, Math.max(0, lastCarried + windowMs - performance.now()))
    timer.unref()
  }

  return {
    /** Whether the message about to be sent carries the wake-up (it then covers every append settled before). */
    carry(): boolean {
      const now = performance.now()
      if (windowMs === 0 || now - lastCarried < windowMs) return false
      lastCarried = now
      owed = false
      return true
    },
    /** An append settled: one that wrote without carrying the wake-up is owed one. */
    settled(wrote: boolean, carried: boolean): void {
      if (!wrote || carried) return
      owed = true
      arm()
    },
  }
}

const WAKE_WINDOW_MS = 1

const wroteAny = (rows: readonly AppendRow[]) => rows.some((row) => Boolean(row.o_positions))

/**
 * @internal Returns the store's append runner.
 *
 * On a node-postgres pool an append costs one round trip, its wake-up included: one simple-query
 * message `BEGIN; EXECUTE <append>(…); COMMIT; SELECT pg_notify(…)`. The NOTIFY runs after the
 * append's COMMIT, in a transaction of its own that takes no transaction id, so it never holds
 * Postgres' notification-queue lock across the append's WAL flush (a NOTIFY inside the append
 * serialised every concurrent commit: 16 writers at 0.18x of raw INSERTs), and it needs no statement
 * of its own (one after each append cost sequential single-event appends ~25%). The statement is
 * prepared once per connection (SQL PREPARE, planned once); the values are inlined as literals,
 * quoted by the driver's `escapeLiteral`. Validation has refused U+0000 before (a query message is a
 * C string), and lone surrogates (the driver would send them as U+FFFD).
 *
 * PGlite and Kysely run the statement with bound parameters; the wake-up follows in a statement of
 * its own.
 */
export function createAppendRunner(executor: SqlExecutor, channel: string): AppendRunner {
  const notify = () => executor.query('SELECT pg_notify($1, $2)', [channel, ''])
  const pool = executor.pool
  return pool
    ? poolRunner(pool, channel, createWakeSchedule(WAKE_WINDOW_MS, notify))
    : boundRunner(executor, createWakeSchedule(0, notify))
}

type WakeSchedule = ReturnType<typeof createWakeSchedule>

function poolRunner(pool: pg.Pool, channel: string, wakes: WakeSchedule): AppendRunner {
  const preparedOn = new WeakMap<pg.PoolClient, Set<string>>()

  async function prepare(client: pg.PoolClient, statement: AppendStatement): Promise<void> {
    let names = preparedOn.get(client)
    if (!names) {
      names = new Set()
      preparedOn.set(client, names)
    }
    if (names.has(statement.name)) return
    try {
      await client.query(`PREPARE ${statement.name} AS ${statement.text}`)
    } catch (error) {
      if (codeOf(error) !== STATEMENT_EXISTS) throw error
    }
    names.add(statement.name)
  }

  async function send(
    client: pg.PoolClient,
    statement: AppendStatement,
    values: readonly SqlValue[],
    tenant: string | null,
  ) {
    await prepare(client, statement)
    const literal = (value: SqlValue) => {
      const text = textOf(value)
      return text === null ? 'NULL' : client.escapeLiteral(text)
    }
    const carried = wakes.carry()
    const wake = carried ? `; SELECT pg_notify(${client.escapeLiteral(channel)}, '')` : ''
    // The tenant goes in the same message (SET LOCAL ends with the transaction): still one round trip.
    const scope = tenant === null ? '' : `SET LOCAL ${TENANT_SETTING} = ${client.escapeLiteral(tenant)}; `
    const text = `BEGIN; ${scope}EXECUTE ${statement.name}(${values.map(literal).join(', ')}); COMMIT${wake}`
    let rows: AppendRow[] = []
    try {
      let results: pg.QueryResult[]
      try {
        results = (await client.query({ text, types: rawTypes })) as unknown as pg.QueryResult[]
      } catch (error) {
        throw isStatementError(error) ? error : new AppendMessageLost(error)
      }
      rows = results[tenant === null ? 1 : 2]?.rows as AppendRow[]
      return rows
    } finally {
      wakes.settled(wroteAny(rows), carried)
    }
  }

  return async (statement, values, tenant) => {
    const held = await checkOut(pool)
    try {
      const { client } = held
      try {
        return await send(client, statement, values, tenant)
      } catch (error) {
        if (!isStatementError(error)) throw error
        // A failed statement leaves the explicit block aborted (nothing of the append was written).
        await client.query('ROLLBACK')
        if (codeOf(error) !== NO_SUCH_STATEMENT) throw error
        preparedOn.delete(client)
        return await send(client, statement, values, tenant)
      }
    } catch (error) {
      // Not a statement's error: the connection itself failed, it must not go back to the pool. The
      // guard's listener kept its 'error' event from ending the process; the lost message is told
      // apart by send (AppendMessageLost), so it is not wrapped again here.
      if (!isStatementError(error)) held.discard(error instanceof Error ? error : new Error(String(error)))
      throw error
    } finally {
      held.release()
    }
  }
}

function boundRunner(executor: SqlExecutor, wakes: WakeSchedule): AppendRunner {
  // A Kysely instance may talk to a server over a network; PGlite runs in this process.
  const remote = executor.kind === 'kysely'
  return async (statement, values, tenant) => {
    let rows: AppendRow[]
    try {
      rows =
        tenant === null
          ? await executor.query<AppendRow>(statement.text, values)
          : await executor.transaction(async (tx) => {
              await tx.query('SELECT set_config($1, $2, true)', [TENANT_SETTING, tenant])
              return tx.query<AppendRow>(statement.text, values)
            })
    } catch (error) {
      const syscall = (error as { syscall?: unknown } | null)?.syscall
      const unsent = typeof syscall === 'string' && NOT_SENT_SYSCALLS.has(syscall)
      throw remote && !unsent && !isStatementError(error) ? new AppendMessageLost(error) : error
    }
    wakes.settled(wroteAny(rows), false)
    return rows
  }
}
