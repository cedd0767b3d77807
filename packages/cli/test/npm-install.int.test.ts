import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { publishablePackages, REDIS_URL, uniqueKeyPrefix, WORKSPACE_ROOT } from '@annals/test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useCliDatabase } from './run-annals.js'

// Every public package as npm gets it: `pnpm pack` tarballs (dist, `workspace:*` rewritten) installed
// by npm into a scratch project with plain Node resolution (no `@annals/source` condition).
const suite = useCliDatabase('annals_cli_npm_adopt')
const FIXTURE = join(import.meta.dirname, 'fixtures/installed-app')
const require = createRequire(import.meta.url)
const packages = publishablePackages()
let app = ''
let tarballs: { name: string; file: string; bytes: number }[] = []
const keyPrefix = `${uniqueKeyPrefix('npm-app')}:`

function run(command: string, args: readonly string[], env: Record<string, string | undefined> = {}) {
  const result = spawnSync(command, args, {
    cwd: app,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, output: result.stdout + result.stderr }
}

beforeAll(() => {
  const tsc = require.resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-b', 'packages/cli'], { cwd: WORKSPACE_ROOT, stdio: 'inherit' })
  app = mkdtempSync(join(tmpdir(), 'annals-npm-app-'))
  const packs = join(app, 'tarballs')
  mkdirSync(packs)
  tarballs = packages.map(({ dir, manifest }) => {
    const file = join(packs, `${manifest.name.replace('@', '').replace('/', '-')}.tgz`)
    execFileSync('pnpm', ['pack', '--out', file], { cwd: dir, stdio: 'ignore' })
    return { name: manifest.name, file, bytes: statSync(file).size }
  })
  const local = Object.fromEntries(tarballs.map((t) => [t.name, `file:${t.file}`]))
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'annals-npm-app',
      private: true,
      type: 'module',
      dependencies: {
        ...local,
        pg: '8.23.1',
        ioredis: '5.9.2',
        kysely: '0.28.19',
        zod: '4.6.7',
        typescript: '5.9.3',
        '@types/pg': '8.23.1',
        '@types/node': '20.19.43',
      },
      // The packages depend on each other at 0.1.0, which is not on the registry: the tarballs are.
      overrides: local,
    }),
  )
  for (const file of ['app.ts', 'annals.config.ts', 'tsconfig.json']) copyFileSync(join(FIXTURE, file), join(app, file))
  const installed = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'])
  if (installed.status !== 0) throw new Error(`npm install failed:\n${installed.output}`)
}, 170_000)

afterAll(async () => {
  if (app) rmSync(app, { recursive: true, force: true })
  const { testRedis, deleteKeys } = await import('@annals/test-support')
  const redis = testRedis()
  await deleteKeys(redis, keyPrefix)
  await redis.close()
})

describe('the packed packages installed by npm', () => {
  it('reports the tarball sizes', () => {
    const report = tarballs.map((t) => `${t.name} ${(t.bytes / 1024).toFixed(1)} kB`).join('\n')
    process.stdout.write(`tarball sizes:\n${report}\n`)
    expect(tarballs.map((t) => t.name)).toEqual(expect.arrayContaining(['@annals/core', '@annals/cli']))
    expect(readdirSync(join(app, 'node_modules/@annals')).sort()).toEqual(
      packages.map((p) => p.manifest.name.slice(8)).sort(),
    )
  })

  it('passes publint and are-the-types-wrong (ESM only)', () => {
    const publint = join(WORKSPACE_ROOT, 'packages/cli/node_modules/.bin/publint')
    const attw = join(WORKSPACE_ROOT, 'packages/cli/node_modules/.bin/attw')
    const problems: string[] = []
    for (const t of tarballs) {
      const lint = spawnSync(publint, ['--strict', join(app, 'node_modules', t.name)], {
        encoding: 'utf8',
      })
      if (lint.status !== 0) problems.push(`publint ${t.name}:\n${lint.stdout}${lint.stderr}`)
      const types = spawnSync(attw, [t.file, '--profile', 'esm-only', '--format', 'ascii'], { encoding: 'utf8' })
      if (types.status !== 0) problems.push(`attw ${t.name}:\n${types.stdout}${types.stderr}`)
    }
    expect(problems).toEqual([])
  }, 120_000)

  it('type-checks an application under strict against the installed .d.ts', () => {
    const tsc = run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'])
    expect(tsc.output).toBe('')
    expect(tsc.status).toBe(0)
  }, 60_000)

  it('runs the application on real Postgres and the packed annals CLI on it', () => {
    const env = { DATABASE_URL: suite.db.connectionString, REDIS_URL, APP_KEY_PREFIX: keyPrefix }
    const started = run(process.execPath, ['dist/app.js'], env)
    expect(started.output).toContain('wallet-1 total 350')
    const bin = join('node_modules', '.bin', 'annals')
    const listed = run(bin, ['projections', 'list'], env)
    expect(listed.stderr).toBe('')
    expect(listed.stdout).toContain('wallet-totals')
    const rebuilt = run(bin, ['projections', 'rebuild', 'wallet-totals', '--no-progress', '--timeout', '50'], env)
    expect(rebuilt.stderr).not.toContain('error')
    expect(rebuilt.stdout).toContain('wallet-totals: generation 1 live')
  }, 90_000)
})
