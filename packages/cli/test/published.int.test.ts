import { execFile, execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  deleteKeys,
  installPacked,
  linkDependency,
  type Manifest,
  publishablePackages,
  REDIS_URL,
  testRedis,
  uniqueKeyPrefix,
  WORKSPACE_ROOT,
} from '@annals/test-support'
import { checkPackage, createPackageFromTarballData } from '@arethetypeswrong/core'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useCliDatabase } from './run-annals.js'

// Every public package as a user gets it: `pnpm pack` tarballs unpacked into a scratch npm project
// (plain Node resolution, no `@annals/source` condition), third-party packages linked from the
// workspace's store so no registry is needed. The app is type-checked under `strict`, built, run on
// the real Postgres and Redis, and the packed `annals` bin rebuilds its projection.
const run = promisify(execFile)
const requireHere = createRequire(import.meta.url)
const suite = useCliDatabase('annals_cli_published_adopt')
const keyPrefix = uniqueKeyPrefix('published-adopt')
const packages = publishablePackages()
let app = ''
const tarballs = new Map<string, { path: string; bytes: number; dir: string }>()

const APP_FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'scratch-bank', private: true, type: 'module' }),
  'tsconfig.json': JSON.stringify({
    compilerOptions: {
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      types: ['node'],
      outDir: 'dist',
      rootDir: '.',
      skipLibCheck: false,
    },
    include: ['src/**/*.ts', 'annals.config.ts'],
  }),
  // The domain and its projection, shared by the app and its annals.config.ts.
  'src/wallet.ts': `import { defineAggregate, defineCommand, defineEvent, DomainError } from '@annals/core'
import { createRedisSink, defineProjection, type RedisWriter } from '@annals/projections'
import type { Redis } from 'ioredis'
import { z } from 'zod'

export const Credited = defineEvent('Credited', z.object({ walletId: z.string(), amount: z.number().int().positive() }))
export const Credit = defineCommand('Credit', z.object({ walletId: z.string(), amount: z.number().int() }))

export const Wallet = defineAggregate({
  name: 'wallet',
  events: [Credited],
  commands: [Credit],
  initialState: () => ({ balance: 0 }),
  evolve: (state, event) => ({ balance: state.balance + event.data.amount }),
  decide: (command) => {
    if (command.data.amount <= 0) throw new DomainError('WALLET_NOT_POSITIVE', 'credit a positive amount')
    return Credited.create({ walletId: command.data.walletId, amount: command.data.amount })
  },
  streamId: (command) => \`wallet-\${command.data.walletId}\`,
})

export function balancesProjection(redis: Redis, keyPrefix: string) {
  return defineProjection({
    name: 'balances',
    version: 1,
    handles: [Credited],
    sink: createRedisSink({ redis, keyPrefix }),
    handlers: {
      Credited: (event, w: RedisWriter) => w.hincrby(event.data.walletId, 'balance', event.data.amount),
    },
  })
}
`,
  'src/main.ts': `import { createCommandHandler } from '@annals/core'
import { createProjectionRunner, createRedisReadModel, migrateProjections } from '@annals/projections'
import { createPostgresEventStore, migrate } from '@annals/store-postgres'
import { Redis } from 'ioredis'
import pg from 'pg'
import { balancesProjection, Credit, Wallet } from './wallet.js'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
const redis = new Redis(process.env.REDIS_URL ?? '')
await migrate({ pool })
await migrateProjections({ pool })
const store = createPostgresEventStore({ pool })
const wallets = createCommandHandler(Wallet, { store })
for (const amount of [5, 10, 20]) await wallets.handle(Credit.create({ walletId: 'w1', amount }))
const loaded = await wallets.handle(Credit.create({ walletId: 'w1', amount: 1 }))

const balances = balancesProjection(redis, process.env.KEY_PREFIX ?? 'scratch:')
const runner = createProjectionRunner({ pool, store, projections: [balances], pollIntervalMs: 50 })
await runner.start()
await runner.waitUntilIdle({ timeoutMs: 30_000 })
const readModel = createRedisReadModel(redis, balances)
const afterIdle = await readModel.hget('w1', 'balance')
let balance = afterIdle
for (const deadline = Date.now() + 20_000; balance !== '36' && Date.now() < deadline; ) {
  await new Promise((resolve) => setTimeout(resolve, 50))
  balance = await readModel.hget('w1', 'balance')
}
await runner.stop()
console.log(JSON.stringify({ state: loaded.state, version: Number(loaded.version), balance, afterIdle }))
redis.disconnect()
await pool.end()
`,
  'annals.config.ts': `import type { AnnalsConfigExport } from '@annals/cli'
import { balancesProjection } from './src/wallet.js'

const config: AnnalsConfigExport = ({ redis, env }) => ({
  projections: [balancesProjection(redis(), env.KEY_PREFIX ?? 'scratch:')],
})
export default config
`,
}

/** Runs a command in the app folder; rejects with its output when it fails. */
async function inApp(file: string, args: string[], env: Record<string, string> = {}) {
  try {
    return await run(file, args, {
      cwd: app,
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 60_000,
    })
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    throw new Error(`${file} ${args.join(' ')} failed:\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: error })
  }
}

beforeAll(() => {
  // The tarballs ship `dist`: bring it up to date with the sources (a no-op after `pnpm run build`).
  const tsc = requireHere.resolve('typescript/bin/tsc')
  const dirs = packages.map((p) => p.dir)
  execFileSync(process.execPath, [tsc, '-b', ...dirs], { cwd: WORKSPACE_ROOT, stdio: 'inherit' })
  app = mkdtempSync(join(tmpdir(), 'annals-published-'))
  const nodeModules = join(app, 'node_modules')
  for (const { dir, manifest } of packages) {
    const installed = installPacked(dir, nodeModules)
    const path = join(nodeModules, '.tarballs', `${manifest.name.replace('/', '+')}.tgz`)
    tarballs.set(manifest.name, { path, bytes: statSync(path).size, dir: installed })
    const packed = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Manifest
    const required = Object.keys(packed.peerDependencies ?? {}).filter(
      (p) => !packed.peerDependenciesMeta?.[p]?.optional,
    )
    for (const name of [...Object.keys(packed.dependencies ?? {}), ...required]) {
      if (!name.startsWith('@annals/')) linkDependency(name, dir, nodeModules)
    }
  }
  // What the app itself brings: its drivers, zod, and the types it compiles against.
  const cli = join(WORKSPACE_ROOT, 'packages/cli')
  for (const name of ['pg', 'ioredis', '@types/pg']) linkDependency(name, cli, nodeModules)
  for (const name of ['zod', '@types/node']) linkDependency(name, WORKSPACE_ROOT, nodeModules)
  for (const [file, text] of Object.entries(APP_FILES)) {
    mkdirSync(join(app, file, '..'), { recursive: true })
    writeFileSync(join(app, file), text)
  }
  console.log(
    `tarball sizes: ${[...tarballs].map(([name, t]) => `${name} ${(t.bytes / 1024).toFixed(1)} kB`).join(', ')}`,
  )
}, 120_000)

afterAll(async () => {
  const redis = testRedis()
  await deleteKeys(redis, keyPrefix)
  await redis.quit()
  if (app) rmSync(app, { recursive: true, force: true })
})

describe('the packed packages in a scratch npm project', () => {
  it('packs every public package, with workspace ranges replaced, its LICENSE and an honest engines field', () => {
    expect([...tarballs.keys()]).toEqual(expect.arrayContaining(['@annals/core', '@annals/cli', '@annals/kafka']))
    for (const [name, { dir }] of tarballs) {
      const text = readFileSync(join(dir, 'package.json'), 'utf8')
      expect(text, name).not.toContain('workspace:')
      expect(readFileSync(join(dir, 'LICENSE'), 'utf8'), name).toContain('MIT License')
      expect((JSON.parse(text) as { engines?: { node?: string } }).engines?.node, name).toBe('>=20.19')
    }
  })

  it('passes publint (warnings and suggestions included) for every package', async () => {
    const found: string[] = []
    for (const [name, { dir }] of tarballs) {
      // The folder is already what the tarball holds: lint it as is.
      const { messages, pkg } = await publint({ pkgDir: dir, level: 'suggestion', pack: false, strict: true })
      for (const m of messages) found.push(`${name}: ${m.type} ${m.code} ${formatMessage(m, pkg) ?? ''}`)
    }
    expect(found).toEqual([])
  }, 60_000)

  it('passes @arethetypeswrong for every tarball (ESM-only packages: node16 from ESM and bundlers)', async () => {
    // The engine of `attw --profile esm-only`, in this process: one TypeScript load for all tarballs.
    const found: string[] = []
    for (const [name, { path }] of tarballs) {
      const analysis = await checkPackage(createPackageFromTarballData(new Uint8Array(readFileSync(path))))
      // attw passes a package without types; ours all ship them.
      if (!analysis.types) found.push(`${name}: no types`)
      else {
        for (const problem of analysis.problems) {
          const kind = 'resolutionKind' in problem ? problem.resolutionKind : null
          if (kind !== 'node10' && kind !== 'node16-cjs') found.push(`${name}: ${JSON.stringify(problem)}`)
        }
      }
    }
    expect(found).toEqual([])
  }, 60_000)

  it('type-checks an app under strict, runs it on Postgres and Redis, and rebuilds its projection with the packed CLI', async () => {
    const tsc = requireHere.resolve('typescript/bin/tsc')
    await inApp(process.execPath, [tsc, '-p', 'tsconfig.json'])
    const env = { DATABASE_URL: suite.db.connectionString, REDIS_URL, KEY_PREFIX: keyPrefix }
    const main = await inApp(process.execPath, ['dist/src/main.js'], env)
    // The runner logs (pino) on stdout too: the app's answer is the last line.
    const answer = JSON.parse(main.stdout.trim().split('\n').at(-1) ?? '') as { afterIdle: string | null }
    console.log(`the app's balance right after waitUntilIdle: ${answer.afterIdle}`)
    expect(answer).toMatchObject({ state: { balance: 36 }, version: 4, balance: '36' })

    // The bin as the packed manifest names it, so a bin pointing at a missing file fails here.
    const cli = join(app, 'node_modules/@annals/cli')
    const packed = JSON.parse(readFileSync(join(cli, 'package.json'), 'utf8')) as { bin: { annals: string } }
    const bin = join(cli, packed.bin.annals)
    const listed = await inApp(process.execPath, [bin, 'projections', 'list', '--json'], env)
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ name: 'balances', sink: 'redis' })])
    const rebuilt = await inApp(process.execPath, [bin, 'projections', 'rebuild', 'balances', '--no-progress'], env)
    expect(rebuilt.stdout).toContain('balances: generation 2 live')
    const status = await inApp(process.execPath, [bin, 'projections', 'status', '--json'], env)
    expect(JSON.parse(status.stdout)).toEqual([expect.objectContaining({ name: 'balances', liveGeneration: 2 })])
  }, 90_000)
})
