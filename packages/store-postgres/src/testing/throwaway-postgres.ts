import { execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PgThrowawayPostgresError } from '../errors.js'

/** A private PostgreSQL server for tests that disturb the whole server (long-open transactions). */
export type ThrowawayPostgres = Readonly<{
  port: number
  /** Connection string of its `postgres` database. */
  connectionString: string
  /**
   * Restarts the server on the same port: `immediate` is a crash (no checkpoint, every session cut,
   * recovery from the WAL), `fast` a clean shutdown. Sessions of clients are lost either way.
   */
  restart(mode?: 'immediate' | 'fast'): Promise<void>
  stop(): Promise<void>
}>

function findBinDir(): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : []
  for (const version of versions) {
    const dir = join(root, version, 'bin')
    if (existsSync(join(dir, 'initdb'))) return dir
  }
  throw new PgThrowawayPostgresError('initdb not found under /usr/lib/postgresql/*/bin')
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Starts a throwaway PostgreSQL cluster (initdb + pg_ctl) on a free loopback port. The global log's
 * fence is server-wide, so tests that hold transactions open run here, not on the shared server.
 * Runs the server as the `postgres` user when the caller is root (initdb refuses root).
 */
export async function startThrowawayPostgres(
  options: Readonly<{
    /** Start transaction ids in this epoch (`pg_resetwal -e`): xid8 values beyond 2^32, as on an old server. */
    xidEpoch?: number
    /**
     * Keep `synchronous_commit` on, so an acknowledged commit survives `restart('immediate')`. Off by
     * default for speed: with it off, a crash of the server loses the last commits it acknowledged
     * (a test of lost writes would blame the store). `fsync` stays off either way: the machine's page
     * cache outlives a crash of the server process.
     */
    durableCommits?: boolean
  }> = {},
): Promise<ThrowawayPostgres> {
  const bin = findBinDir()
  const dir = mkdtempSync(join(tmpdir(), 'annals-pg-'))
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
    chownSync(dir, uid, gid)
  }
  const run = (command: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, command), ...args], { stdio: 'pipe' })
      : execFileSync(join(bin, command), args, { stdio: 'pipe' })
  const data = join(dir, 'data')
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  if (options.xidEpoch !== undefined) run('pg_resetwal', ['-e', String(options.xidEpoch), data])
  const port = await freePort()
  let stopped = false
  const stopNow = () => {
    if (stopped) return
    stopped = true
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  // A test run that dies before its afterAll must not leave a server behind.
  const onExit = () => {
    try {
      stopNow()
    } catch {
      // Best effort at exit.
    }
  }
  process.once('exit', onExit)
  run('pg_ctl', [
    '-D',
    data,
    '-l',
    join(dir, 'server.log'),
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=${options.durableCommits ? 'on' : 'off'} -c full_page_writes=off`,
    '-w',
    'start',
  ])
  return {
    port,
    connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async restart(mode = 'immediate') {
      // pg_ctl restart starts the server again with the options it was started with (postmaster.opts).
      run('pg_ctl', ['-D', data, '-m', mode, '-l', join(dir, 'server.log'), '-w', 'restart'])
    },
    async stop() {
      process.removeListener('exit', onExit)
      try {
        stopNow()
      } catch (cause) {
        throw new PgThrowawayPostgresError(`could not stop the throwaway server in ${dir}`, { cause })
      }
    },
  }
}
