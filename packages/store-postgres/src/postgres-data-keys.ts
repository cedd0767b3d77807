import type { DataKeyStore, StoredDataKey } from '@annals/core'
import { checkName } from '@annals/core/runtime'
import { PgUnexpectedResultError } from './errors.js'
import { type StoreConnection, toExecutor } from './sql/executor.js'
import { storeTables } from './store-tables.js'
import { checkTenant, DEFAULT_TENANT, tenantRunner } from './tenancy.js'

/** Options of {@link createPostgresDataKeys}. */
export type PostgresDataKeysOptions = StoreConnection &
  Readonly<{
    schema?: string
    tablePrefix?: string
    /** The tenant whose subjects these are (default the default tenant). */
    tenant?: string
    /** The pool's role is subject to row-level security: each statement runs with the tenant setting. */
    rowLevelSecurity?: boolean
  }>

/**
 * The crypto-shredding data keys in Postgres (table `data_keys`, migration `0004-data-keys`): one
 * wrapped key per subject and tenant. `forget` deletes the row; nothing else holds the key.
 * @example createCryptoShreddingStore({ store, dataKeys: createPostgresDataKeys({ pool }), masterKey, events, subjectOf })
 */
export function createPostgresDataKeys(options: PostgresDataKeysOptions): DataKeyStore {
  const table = storeTables(options).dataKeys
  const tenant = options.tenant === undefined ? DEFAULT_TENANT : checkTenant(options.tenant, 'tenant')
  const runner = tenantRunner(toExecutor(options), { tenant, rowLevelSecurity: options.rowLevelSecurity === true })
  // One round trip for the common case (the key exists, or is created now); the statement's snapshot
  // misses a key a concurrent caller committed after it began, hence the second look.
  const claim = `WITH ins AS (
      INSERT INTO ${table} (tenant_id, subject, key_id, wrapped) VALUES ($4, $1, $2::uuid, $3)
      ON CONFLICT (tenant_id, subject) DO NOTHING RETURNING key_id::text AS key_id, wrapped)
    SELECT key_id, wrapped FROM ins
    UNION ALL SELECT key_id::text, wrapped FROM ${table} WHERE tenant_id = $4 AND subject = $1
    LIMIT 1`
  const find = `SELECT key_id::text AS key_id, wrapped FROM ${table} WHERE tenant_id = $2 AND subject = $1`
  const load = `SELECT key_id::text AS key_id, wrapped FROM ${table} WHERE tenant_id = $2 AND key_id = ANY ($1::uuid[])`
  const forget = `DELETE FROM ${table} WHERE tenant_id = $2 AND subject = $1 RETURNING 1 AS ok`
  type Row = { key_id: string; wrapped: string }
  const toKey = (row: Row): StoredDataKey => ({ keyId: row.key_id, wrapped: row.wrapped })

  return {
    async keyFor(subject, candidate) {
      checkName(subject, 'subject', ['subject'])
      const [row] = await runner.query<Row>(claim, [subject, candidate.keyId, candidate.wrapped, tenant])
      if (row) return toKey(row)
      const [again] = await runner.query<Row>(find, [subject, tenant])
      if (!again)
        throw new PgUnexpectedResultError(
          `The data key of "${subject}" vanished while it was created (forgotten meanwhile)`,
        )
      return toKey(again)
    },
    async load(keyIds) {
      if (keyIds.length === 0) return new Map()
      const rows = await runner.query<Row>(load, [keyIds, tenant])
      return new Map(rows.map((row) => [row.key_id, row.wrapped]))
    },
    async forget(subject) {
      checkName(subject, 'subject', ['subject'])
      return (await runner.query(forget, [subject, tenant])).length > 0
    },
  }
}
