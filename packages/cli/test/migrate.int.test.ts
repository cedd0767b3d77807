import { tableNames } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { runAnnals, useCliDatabase } from './run-annals.js'

const suite = useCliDatabase('annals_cli_migrate')

// Formerly the tests of `annals-pg migrate` (store-postgres) and `annals-outbox migrate`.
describe('annals migrate', () => {
  it('migrates DATABASE_URL, then reports it up to date', async () => {
    const run = await runAnnals(['migrate', '--schema', 'cli_s', '--table-prefix', 'p_'], suite.env)
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(run.stdout).toContain(
      'applied 0001-init, 0002-idempotency-claims, 0003-tenancy, 0004-data-keys in schema "cli_s"',
    )
    expect(await tableNames(suite.db.pool, 'cli_s')).toContain('p_events')
    const rerun = await runAnnals(['migrate', '--schema', 'cli_s', '--table-prefix', 'p_'], suite.env)
    expect(rerun.status).toBe(0)
    expect(rerun.stdout).toContain('is up to date')
  })

  it('creates the tables of the event store, the outbox, the projections and the sagas, prefixing the tables of every package', async () => {
    const run = await runAnnals(['migrate', '--schema', 'cli_all', '--table-prefix', 'q_', '--json'], suite.env)
    expect(run.stderr).toBe('')
    const report = JSON.parse(run.stdout) as { schema: string; tablePrefix: string; applied: Record<string, string[]> }
    expect(report).toMatchObject({ schema: 'cli_all', tablePrefix: 'q_' })
    expect(report.applied.store).toEqual(['0001-init', '0002-idempotency-claims', '0003-tenancy', '0004-data-keys'])
    for (const applied of Object.values(report.applied)) expect(applied.length).toBeGreaterThan(0)
    const created = await tableNames(suite.db.pool, 'cli_all')
    expect(created).toEqual(expect.arrayContaining(['q_events', 'q_outbox', 'q_processed_messages']))
    expect(created).toEqual(expect.arrayContaining(['q_projections', 'q_saga_instances']))
    expect(created).not.toContain('projections')
    const again = await runAnnals(['migrate', '--schema', 'cli_all', '--table-prefix', 'q_'], suite.env)
    expect(again.stdout.trim().split('\n')).toEqual([
      'store: schema "cli_all" is up to date',
      'outbox: schema "cli_all" is up to date',
      'projections: schema "cli_all" is up to date',
      'sagas: schema "cli_all" is up to date',
    ])
  })

  it('reads the prefixed projection and saga tables with --table-prefix, the prefix given to migrate', async () => {
    const migrated = await runAnnals(['migrate', '--schema', 'cli_pfx', '--table-prefix', 'r_'], suite.env)
    expect(migrated.status).toBe(0)
    const letters = await runAnnals(['dlq', 'list', '--schema', 'cli_pfx', '--table-prefix', 'r_', '--json'], suite.env)
    expect(letters.stderr).toBe('')
    expect(JSON.parse(letters.stdout)).toEqual([])
    const sagas = await runAnnals(['sagas', 'list', '--schema', 'cli_pfx', '--table-prefix', 'r_', '--json'], suite.env)
    expect(sagas.stderr).toBe('')
    expect(JSON.parse(sagas.stdout)).toMatchObject({ counts: { running: 0 }, sagas: [] })
    // Without the prefix the commands look for tables that were never created.
    const unprefixed = await runAnnals(['dlq', 'list', '--schema', 'cli_pfx', '--json'], suite.env)
    expect(unprefixed.status).toBe(1)
    expect(unprefixed.stderr).toContain('error ANNALS_CLI_ERR_NOT_MIGRATED')
  })

  it('fails clearly without DATABASE_URL, with a bad schema, or an unknown command', async () => {
    const missing = await runAnnals(['migrate'], {})
    // `annals` exits 1 on every error but a usage error (annals-pg exited 2 here).
    expect(missing.status).toBe(1)
    expect(missing.stderr).toContain('DATABASE_URL is not set')
    const bad = await runAnnals(['migrate', '--schema', 'a;b'], suite.env)
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain('error ANNALS_PG_ERR_INVALID_IDENTIFIER')
    const badPrefix = await runAnnals(['migrate', '--schema', 'cli_bad', '--table-prefix', 'bad prefix'], suite.env)
    expect(badPrefix.status).toBe(1)
    expect(badPrefix.stderr).toContain('error ANNALS_PG_ERR_INVALID_IDENTIFIER')
    expect(await tableNames(suite.db.pool, 'cli_bad')).toEqual([])
    const unknown = await runAnnals(['frobnicate'], suite.env)
    expect(unknown.status).toBe(2)
  })

  it('takes the connection string from --database-url as well', async () => {
    const run = await runAnnals(['migrate', '--schema', 'cli_url', '--database-url', suite.db.connectionString], {})
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(await tableNames(suite.db.pool, 'cli_url')).toContain('events')
  })
})
