import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import { afterAll, beforeAll } from 'vitest'
import { runCli } from '../src/program.js'

/** What one `annals` run printed and returned. */
export type AnnalsRun = Readonly<{ status: number; stdout: string; stderr: string }>

/**
 * Runs `annals <args>` in this process through {@link runCli}, as the bin does but without tsx's
 * start-up per command. `env` is all the CLI sees; the working directory (this folder) holds no config.
 */
export async function runAnnals(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string = import.meta.dirname,
): Promise<AnnalsRun> {
  let stdout = ''
  let stderr = ''
  const status = await runCli(args, {
    env: { ...env },
    cwd,
    stdout: (text) => {
      stdout += text
    },
    stderr: (text) => {
      stderr += text
    },
    isTTY: false,
  })
  return { status, stdout, stderr }
}

/** The calling suite's throwaway database, and the environment that points `annals` at it. */
export type CliDatabase = Readonly<{ db: TestDatabase; env: Record<string, string> }>

/**
 * Registers hooks that create a throwaway database before the suite (then runs `prepare`, say to migrate
 * it) and drop it after. The returned object reads the current database, so a suite can capture it.
 */
export function useCliDatabase(prefix: string, prepare?: (db: TestDatabase) => Promise<void>): CliDatabase {
  let db: TestDatabase | undefined
  const current = () => {
    if (!db) throw new Error('the CLI test database is used outside a test')
    return db
  }
  beforeAll(async () => {
    db = await createTestDatabase(prefix)
    await prepare?.(db)
  })
  afterAll(async () => {
    await db?.drop()
    db = undefined
  })
  return {
    get db() {
      return current()
    },
    get env() {
      return { DATABASE_URL: current().connectionString }
    },
  }
}
