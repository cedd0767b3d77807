import { checkName } from '@annals/core/runtime'
import { PgTenantScopeError } from './errors.js'
import type { SqlExecutor, SqlRunner } from './sql/executor.js'

/** The tenant of every row written without one: single-tenant applications never name a tenant. */
export const DEFAULT_TENANT = 'default'

/**
 * Names every tenant at once: `store.forTenant(ALL_TENANTS)` reads the whole global log (a projection
 * across tenants declares it); it cannot append.
 */
export const ALL_TENANTS: unique symbol = Symbol.for('annals.all-tenants')

/** A tenant id, or {@link ALL_TENANTS}. */
export type TenantScope = string | typeof ALL_TENANTS

/** @internal The session setting naming the transaction's tenant (read by column defaults and RLS policies). */
export const TENANT_SETTING = 'annals.tenant'

/** @internal The value of {@link TENANT_SETTING} that lets a reader see every tenant (SELECT policies only). */
export const ALL_TENANTS_SETTING = '*'

/**
 * @internal The transaction's tenant in SQL: the session setting, else the default tenant. Column
 * defaults use it, so that no INSERT names the tenant and the single-tenant append is unchanged.
 */
export const TENANT_SQL = `coalesce(nullif(current_setting('${TENANT_SETTING}', true), ''), '${DEFAULT_TENANT}')`

/** @internal Validates a tenant id given to `forTenant` or a store's `tenant` option. */
export function checkTenant(tenant: unknown, path: string): string {
  if (typeof tenant !== 'string') throw new PgTenantScopeError(`${path} must be a tenant id (a string)`)
  if (tenant === ALL_TENANTS_SETTING)
    throw new PgTenantScopeError(`${path} "*" is reserved (use ALL_TENANTS to read every tenant)`)
  return checkName(tenant, 'tenant id', [path])
}

/** @internal How a store talks about tenants: which one, and whether the session setting must be set for reads. */
export type TenantContext = Readonly<{
  /** The tenant; null for ALL_TENANTS (reads only). */
  tenant: string | null
  /** The connection's role is subject to row-level security: every statement runs with the setting. */
  rowLevelSecurity: boolean
}>

/**
 * @internal A runner whose statements see `context`'s tenant in the session setting. Without row-level
 * security (the tables' owner) statements run as they are: their WHERE clauses name the tenant, and
 * no round trip is added. Under RLS each statement runs in a transaction that sets it first.
 */
export function tenantRunner(executor: SqlExecutor, context: TenantContext): SqlRunner {
  if (!context.rowLevelSecurity) return executor
  const setting = context.tenant ?? ALL_TENANTS_SETTING
  return {
    query<R>(text: string, values?: readonly unknown[]): Promise<R[]> {
      return executor.transaction(async (tx) => {
        await tx.query('SELECT set_config($1, $2, true)', [TENANT_SETTING, setting])
        return tx.query<R>(text, values)
      })
    },
  }
}

/**
 * @internal Row-level security on a tenant-scoped table: the second line of defence behind the
 * store's own WHERE clauses. It binds roles that do not own the table (the owner, which runs the
 * migrations and single-tenant applications, is exempt unless FORCE is set), so an application role
 * that forgets the tenant setting sees and writes nothing. Reading every tenant ('*') is for SELECT.
 */
export function tenantPolicies(table: string, policyName: (suffix: string) => string): string[] {
  const current = `current_setting('${TENANT_SETTING}', true)`
  return [
    `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`,
    `CREATE POLICY ${policyName('tenant')} ON ${table} USING (tenant_id = ${current}) WITH CHECK (tenant_id = ${current})`,
    `CREATE POLICY ${policyName('all_tenants_read')} ON ${table} FOR SELECT USING (${current} = '${ALL_TENANTS_SETTING}')`,
  ]
}
