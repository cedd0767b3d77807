import { randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { format } from 'node:util'
import { runCli } from '@annals/cli'
import { createTestDatabase } from '@annals/store-postgres/testing'
import { Redis } from 'ioredis'
import pg from 'pg'
import { matchOutput, type PageProgram, pageProgram, type ShellCommand } from './extract.js'

/** Where the pages live and where their files are written (inside this package, so imports resolve). */
export const DOCS_DIR = join(import.meta.dirname, '../../../docs')
const WORK_DIR = join(import.meta.dirname, '../.work')

/** The variables a page may `export`: the checker sets each of them for the page. */
export const PROVIDED_ENV = ['DATABASE_URL', 'REDIS_URL', 'KAFKA_BROKERS'] as const

const REDIS_BASE = process.env.ANNALS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** What one page run printed (console.log of the main module, and the annals commands' output). */
export type PageRun = Readonly<{ output: string; commands: number }>

/**
 * Claims a Redis logical database (1..15) for one page, so that the page's literal key prefixes cannot
 * meet another run's: a `SET NX` lease on database 0, released after the page.
 */
async function claimRedisDatabase(): Promise<{ index: number; release(): Promise<void> }> {
  const admin = new Redis(REDIS_BASE, { maxRetriesPerRequest: 2 })
  const token = randomUUID()
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    for (let index = 1; index <= 15; index++) {
      const key = `annals-guide-check:redis-db:${index}`
      if ((await admin.set(key, token, 'PX', 180_000, 'NX')) === 'OK') {
        const db = new Redis(`${REDIS_BASE}/${index}`, { maxRetriesPerRequest: 2 })
        await db.flushdb()
        return {
          index,
          async release() {
            await db.flushdb()
            db.disconnect()
            if ((await admin.get(key)) === token) await admin.del(key)
            admin.disconnect()
          },
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  admin.disconnect()
  throw new Error('no free Redis database (1..15) for the guide check within 60 s')
}

/** The dependencies of this package: what a page may install. */
export function installablePackages(): Set<string> {
  const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '../package.json'), 'utf8')) as {
    dependencies: Record<string, string>
    devDependencies: Record<string, string>
  }
  return new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.devDependencies)])
}

/** Reads and checks a page without running it: installs and exports must be ones the checker honours. */
export function loadPage(name: string): PageProgram {
  const program = pageProgram(name, readFileSync(join(DOCS_DIR, name), 'utf8'))
  const installable = installablePackages()
  for (const pkg of program.installs) {
    if (!installable.has(pkg)) throw new Error(`${name} installs ${pkg}, which the guide checker does not depend on`)
  }
  for (const variable of program.exports) {
    if (!(PROVIDED_ENV as readonly string[]).includes(variable))
      throw new Error(`${name} exports ${variable}, which the guide checker does not provide`)
  }
  return program
}

/**
 * Runs one page in this process: its own database and Redis database, its files in a scratch folder,
 * its main module imported once (TypeScript blocks concatenated in page order), `annals` commands run
 * in process through `runCli`, every expected output checked.
 */
export async function runPage(name: string): Promise<PageRun> {
  const program = loadPage(name)
  const db = await createTestDatabase(`guide_${name.replace(/\W+/g, '_').slice(0, 20)}`)
  const redisDb = await claimRedisDatabase()
  const dir = join(WORK_DIR, `${name.replace(/\W+/g, '-')}-${randomUUID().slice(0, 8)}`)
  const env: Record<string, string> = {
    DATABASE_URL: db.connectionString,
    REDIS_URL: `${REDIS_BASE}/${redisDb.index}`,
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
  }
  const saved = Object.fromEntries(PROVIDED_ENV.map((k) => [k, process.env[k]]))
  let output = ''
  let cursor = 0
  let commands = 0
  const originalLog = console.log
  const OriginalPool = pg.Pool
  // A page that fails half-way leaves its pools open: record them, so they are ended before the
  // database is dropped (instead of erroring in the next page's time).
  const pools: pg.Pool[] = []
  pg.Pool = class extends OriginalPool {
    constructor(config?: pg.PoolConfig) {
      super(config)
      pools.push(this)
      this.on('error', () => {})
    }
  }
  try {
    for (const [file, content] of program.files) {
      mkdirSync(dirname(join(dir, file)), { recursive: true })
      writeFileSync(join(dir, file), content)
    }
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'main.ts'), program.main)
    Object.assign(process.env, env)
    console.log = (...args: unknown[]) => {
      output += `${format(...args)}\n`
    }
    ;(globalThis as Record<string, unknown>).__guide = {
      async shell(command: ShellCommand, expected: string) {
        commands++
        const commandEnv: Record<string, string | undefined> = { ...env }
        for (const [k, v] of Object.entries(command.env)) commandEnv[k] = v === '' ? undefined : v
        let text = ''
        const status = await runCli(command.args, {
          env: commandEnv,
          cwd: dir,
          stdout: (t) => {
            text += t
          },
          stderr: (t) => {
            text += t
          },
          isTTY: false,
        })
        const wantsError = expected.trimStart().startsWith('error ')
        if ((status === 0) === wantsError)
          throw new Error(
            `annals ${command.args.join(' ')} exited ${status}${wantsError ? ', expected an error' : ''}:\n${text}`,
          )
        output += text
        matchOutput(text, expected)
        cursor = output.length
      },
      async expectOutput(expected: string) {
        matchOutput(output.slice(cursor), expected)
        cursor = output.length
      },
    }
    await import(join(dir, 'main.ts'))
    return { output, commands }
  } finally {
    console.log = originalLog
    pg.Pool = OriginalPool
    // A worker the page left running holds a client, and end() waits for it: bounded, so that the
    // page's own error is reported instead of a test timeout.
    const ended = Promise.all(pools.map((pool) => (pool.ended ? null : pool.end().catch(() => {}))))
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 5_000).unref())])
    delete (globalThis as Record<string, unknown>).__guide
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
    rmSync(dir, { recursive: true, force: true })
    await redisDb.release()
    await db.drop()
  }
}
