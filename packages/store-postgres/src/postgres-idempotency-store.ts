import { randomUUID } from 'node:crypto'
import { IdempotencyKeyReusedError, type IdempotencyStore } from '@annals/core'
import { checkName, toStoredJson } from '@annals/core/runtime'
import { PgInvalidOptionError } from './errors.js'
import { type StoreConnection, toExecutor } from './sql/executor.js'
import { storeTables } from './store-tables.js'
import { checkTenant, DEFAULT_TENANT, tenantRunner } from './tenancy.js'

/** Options of {@link createPostgresIdempotencyStore}. */
export type PostgresIdempotencyStoreOptions = StoreConnection &
  Readonly<{
    schema?: string
    tablePrefix?: string
    /**
     * How long a claim on a key lasts without renewal (ms). The running caller renews it every third of
     * this; a caller that died leaves a claim that others may take over once it expires. Default 30 s.
     */
    claimMs?: number
    /** The tenant whose keys these are (default the default tenant): the same key of two tenants never meets. */
    tenant?: string
    /** The pool's role is subject to row-level security: each statement runs with the tenant setting. */
    rowLevelSecurity?: boolean
  }>

// `live` arrives as 't'/'f' through pg (the store reads every column as text) and as a boolean on PGlite.
type Row = { fingerprint: string; result: string | null; claim: string | null; live: boolean | string | null }

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Creates the idempotency store on table `idempotency_keys`. The first caller with a key claims it
 * (one row, `result` still NULL) and runs `work`; others with the same key wait for the result and
 * replay it, and one with another fingerprint fails at once. No connection is held while `work` runs:
 * work that itself needs the pool (an append) cannot starve it. A failed `work` drops the claim, so the
 * key can be tried again; a crashed caller's claim expires after `claimMs`.
 */
export function createPostgresIdempotencyStore(options: PostgresIdempotencyStoreOptions): IdempotencyStore {
  const names = storeTables(options)
  const tenant = options.tenant === undefined ? DEFAULT_TENANT : checkTenant(options.tenant, 'tenant')
  const runner = tenantRunner(toExecutor(options), { tenant, rowLevelSecurity: options.rowLevelSecurity === true })
  // Every statement takes the tenant as its last parameter.
  const executor = {
    query: <R>(text: string, values: readonly unknown[]) => runner.query<R>(text, [...values, tenant]),
  }
  const claimMs = options.claimMs ?? 30_000
  if (!Number.isInteger(claimMs) || claimMs < 100) {
    throw new PgInvalidOptionError('claimMs', 'must be an integer >= 100')
  }
  const table = names.idempotencyKeys
  const select = `SELECT fingerprint, result::text AS result, claim::text AS claim, claimed_until > clock_timestamp() AS live
    FROM ${table} WHERE tenant_id = $2 AND key = $1`
  // A row with a NULL result is a claim; it can be taken over only once expired. (A stored JSON null
  // is the jsonb value 'null', not SQL NULL.)
  const claim = `INSERT INTO ${table} AS t (tenant_id, key, fingerprint, result, claim, claimed_until)
    VALUES ($5, $1, $2, NULL, $3::uuid, clock_timestamp() + $4::integer * interval '1 millisecond')
    ON CONFLICT (tenant_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, claim = EXCLUDED.claim,
      claimed_until = EXCLUDED.claimed_until, created_at = now()
    WHERE t.result IS NULL AND t.claimed_until <= clock_timestamp()
    RETURNING t.claim::text AS claim`
  const renew = `UPDATE ${table} SET claimed_until = clock_timestamp() + $3::integer * interval '1 millisecond'
    WHERE tenant_id = $4 AND key = $1 AND claim = $2::uuid AND result IS NULL`
  const complete = `UPDATE ${table} SET result = $3::jsonb, claim = NULL, claimed_until = NULL
    WHERE tenant_id = $4 AND key = $1 AND claim = $2::uuid`
  const release = `DELETE FROM ${table} WHERE tenant_id = $3 AND key = $1 AND claim = $2::uuid AND result IS NULL`

  function replay<R>(key: string, fingerprint: string, row: Row & { result: string }) {
    if (row.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(key)
    return { result: JSON.parse(row.result) as R, replayed: true }
  }

  return {
    async execute<R>(key: string, fingerprint: string, work: () => Promise<R>) {
      checkName(key, 'idempotency key', ['key'])
      checkName(fingerprint, 'idempotency fingerprint', ['fingerprint'])
      let wait = 5
      for (;;) {
        const [row] = await executor.query<Row>(select, [key])
        if (row?.result != null) return replay<R>(key, fingerprint, row as Row & { result: string })
        const live = row?.live === true || row?.live === 't'
        // Another command under a key still being worked on is as wrong as one under a finished key.
        if (live && row?.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(key)
        if (!live) {
          const mine = randomUUID()
          const [claimed] = await executor.query<{ claim: string }>(claim, [key, fingerprint, mine, claimMs])
          if (claimed?.claim === mine) return { result: await runClaimed(key, mine, work), replayed: false }
        }
        // Someone else works on this key: wait for its result (or for its claim to fail or expire).
        await sleep(wait)
        wait = Math.min(wait * 2, 200)
      }
    },
  }

  async function runClaimed<R>(key: string, mine: string, work: () => Promise<R>): Promise<R> {
    const renewal = setInterval(
      () => void executor.query(renew, [key, mine, claimMs]).catch(() => undefined),
      Math.floor(claimMs / 3),
    )
    renewal.unref?.()
    let result: R
    try {
      result = await work()
    } catch (error) {
      clearInterval(renewal)
      await executor.query(release, [key, mine]).catch(() => undefined)
      throw error
    }
    clearInterval(renewal)
    try {
      await executor.query(complete, [key, mine, toStoredJson(result ?? null, 'idempotent result', [key])])
    } catch (error) {
      // Nothing stored (a result that is not JSON, a lost connection): free the key for a retry.
      await executor.query(release, [key, mine]).catch(() => undefined)
      throw error
    }
    return result
  }
}
