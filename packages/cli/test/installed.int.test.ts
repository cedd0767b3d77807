import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { installPacked, linkDependency, type Manifest, tableNames, WORKSPACE_ROOT } from '@annals/test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useCliDatabase } from './run-annals.js'

// The CLI as an application gets it: the packed tarballs (built `dist`, no `@annals/source`
// condition) in a project's node_modules, third-party packages linked from the workspace's store.
const suite = useCliDatabase('annals_cli_installed')
let app = ''

/** Installs the packed workspace package `dir` into the app with its dependencies and required peers. */
function install(dir: string): void {
  const source = join(WORKSPACE_ROOT, 'packages', dir)
  const installed = installPacked(source, join(app, 'node_modules'))
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Manifest
  const required = Object.keys(manifest.peerDependencies ?? {}).filter(
    (peer) => !manifest.peerDependenciesMeta?.[peer]?.optional,
  )
  for (const name of [...Object.keys(manifest.dependencies ?? {}), ...required]) {
    if (!name.startsWith('@annals/')) linkDependency(name, source, join(app, 'node_modules'))
  }
}

/** Runs the installed `annals` bin in the app's folder against the suite's database. */
function annals(...args: string[]) {
  const run = spawnSync(process.execPath, [join(app, 'node_modules/@annals/cli/dist/bin.js'), ...args], {
    cwd: app,
    env: { PATH: process.env.PATH, DATABASE_URL: suite.db.connectionString },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

beforeAll(() => {
  // The tarballs ship `dist`: bring it up to date with the sources (a no-op after `pnpm run build`).
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-b', 'packages/cli'], { cwd: WORKSPACE_ROOT, stdio: 'inherit' })
  app = mkdtempSync(join(tmpdir(), 'annals-app-'))
  for (const dir of ['core', 'store-postgres', 'projections', 'cli']) install(dir)
}, 180_000)

afterAll(() => {
  if (app) rmSync(app, { recursive: true, force: true })
})

describe('the installed annals command', () => {
  it('without @annals/outbox and @annals/sagas, names the package their commands need', () => {
    const outbox = annals('outbox', 'status')
    expect(outbox.status).toBe(1)
    expect(outbox.stderr).toContain(
      'error ANNALS_CLI_ERR_MISSING_PACKAGE: `annals outbox status` needs @annals/outbox, which is not installed',
    )
    const sagas = annals('sagas', 'list')
    expect(sagas.status).toBe(1)
    expect(sagas.stderr).toContain(
      'error ANNALS_CLI_ERR_MISSING_PACKAGE: `annals sagas list` needs @annals/sagas, which is not installed',
    )
    expect(annals('--help').stdout).toContain('outbox')
  })

  it('without them, migrates the event store and the projections and says it skipped the outbox and the sagas', async () => {
    const run = annals('migrate', '--schema', 'bare')
    expect(run.stderr).toBe('')
    expect(run.stdout.trim().split('\n')).toEqual([
      'store: applied 0001-init, 0002-idempotency-claims, 0003-tenancy, 0004-data-keys in schema "bare"',
      'outbox: skipped, @annals/outbox is not installed',
      'projections: applied 0001-projections, 0002-lease-version, 0003-partitions in schema "bare"',
      'sagas: skipped, @annals/sagas is not installed',
    ])
    const created = await tableNames(suite.db.pool, 'bare')
    expect(created).toEqual(expect.arrayContaining(['events', 'projections']))
    expect(created).not.toContain('outbox')
    expect(created).not.toContain('saga_instances')
    const json = JSON.parse(annals('migrate', '--schema', 'bare', '--json').stdout) as { applied: object }
    expect(json.applied).toMatchObject({ outbox: null, sagas: null, projections: [] })
  })

  it('with them installed, `annals migrate` on a fresh schema lets outbox status and sagas list run', async () => {
    install('outbox')
    install('sagas')
    expect(await tableNames(suite.db.pool, 'annals')).toEqual([])
    const migrated = annals('migrate')
    expect(migrated.stderr).toBe('')
    expect(migrated.status).toBe(0)
    expect(migrated.stdout).toContain('outbox: applied 0001-outbox, 0002-tenancy in schema "annals"')
    expect(migrated.stdout).toContain('sagas: applied 0001-saga-instances in schema "annals"')
    const status = annals('outbox', 'status', '--json')
    expect(status.stderr).toBe('')
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 0, dead: 0 })
    const sagas = annals('sagas', 'list', '--json')
    expect(sagas.stderr).toBe('')
    expect(JSON.parse(sagas.stdout)).toMatchObject({ sagas: [] })
  })
})
