import { SAGA_STATUSES } from '@annals/sagas'
import { describe, expect, it } from 'vitest'
import type { OptionalModule } from './optional-import.js'
import { importOptional } from './optional-import.js'
import { isPackageMissing, optionalLoaders, SAGA_STATUS_HELP } from './optional-packages.js'
import { runCli } from './program.js'

/** The error Node's ESM loader throws for a bare specifier whose package is not in node_modules. */
function notFound(packageName: string): Error {
  return Object.assign(
    new Error(
      `Cannot find package '${packageName}' imported from /app/node_modules/@annals/cli/dist/optional-import.js`,
    ),
    {
      code: 'ERR_MODULE_NOT_FOUND',
    },
  )
}

/** An importer for a project that has not installed `missing` (every other optional module loads). */
function without(...missing: string[]) {
  return (specifier: OptionalModule) => {
    const name = missing.find((m) => specifier === m || specifier.startsWith(`${m}/`))
    return name ? Promise.reject(notFound(name)) : importOptional(specifier)
  }
}

async function run(argv: readonly string[], importOptional: (s: OptionalModule) => Promise<unknown>) {
  let stdout = ''
  let stderr = ''
  const status = await runCli(
    argv,
    {
      env: {},
      cwd: import.meta.dirname,
      stdout: (t) => {
        stdout += t
      },
      stderr: (t) => {
        stderr += t
      },
    },
    { importOptional },
  )
  return { status, stdout, stderr }
}

describe('optional packages', () => {
  it.each([
    [['outbox', 'status'], '@annals/outbox', 'annals outbox status'],
    [['outbox', 'dead'], '@annals/outbox', 'annals outbox dead'],
    [['outbox', 'retry'], '@annals/outbox', 'annals outbox retry'],
    [['sagas', 'list'], '@annals/sagas', 'annals sagas list'],
    [['sagas', 'show', 'transfer', 't-1'], '@annals/sagas', 'annals sagas show'],
  ])('annals %j without %s names the package to install, before it needs a database', async (argv, pkg, command) => {
    const result = await run(argv, without(pkg))
    expect(result.status).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('error ANNALS_CLI_ERR_MISSING_PACKAGE')
    expect(result.stderr).toContain(`\`${command}\` needs ${pkg}, which is not installed`)
    expect(result.stderr).toContain(`npm install ${pkg}`)
    // Not the DATABASE_URL error: the missing package is reported first.
    expect(result.stderr).not.toContain('DATABASE_URL')
  })

  it('loads each optional module when it is installed', async () => {
    const { load, loadIfInstalled } = optionalLoaders()
    expect(typeof (await load('@annals/outbox', 'outbox status')).getOutboxStatus).toBe('function')
    expect((await load('@annals/sagas', 'sagas list')).SAGA_STATUSES).toEqual(SAGA_STATUSES)
    expect(typeof (await loadIfInstalled('@annals/sagas/postgres'))?.migrateSagas).toBe('function')
  })

  it('resolves to undefined for a package that is not installed, where the caller can do without it', async () => {
    const { loadIfInstalled } = optionalLoaders(without('@annals/sagas'))
    expect(await loadIfInstalled('@annals/sagas/postgres')).toBeUndefined()
    expect(await loadIfInstalled('@annals/outbox')).toBeDefined()
  })

  it('rethrows the failure of an installed package that misses a dependency of its own', async () => {
    const broken = notFound('pg')
    const { load, loadIfInstalled } = optionalLoaders(() => Promise.reject(broken))
    await expect(load('@annals/outbox', 'outbox status')).rejects.toBe(broken)
    await expect(loadIfInstalled('@annals/outbox')).rejects.toBe(broken)
    expect(isPackageMissing(notFound('@annals/outbox'), '@annals/outbox')).toBe(true)
    expect(isPackageMissing(notFound('@annals/outbox-extras'), '@annals/outbox')).toBe(false)
    expect(isPackageMissing(new Error("Cannot find package '@annals/outbox'"), '@annals/outbox')).toBe(false)
  })

  it('lists the saga statuses in the help as @annals/sagas defines them', () => {
    expect(SAGA_STATUS_HELP).toEqual(SAGA_STATUSES)
  })
})
