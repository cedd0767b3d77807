#!/usr/bin/env node
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { migrate } from './migrate.js'

const usage = `Usage: annals-pg migrate [--schema <name>] [--table-prefix <prefix>]
Creates or upgrades the Annals event store tables in DATABASE_URL (safe to re-run).`

/** The `annals-pg` command line: `migrate` runs the store's migrations against DATABASE_URL. Returns the exit code. */
export async function main(
  argv: readonly string[],
  io: Readonly<{ out: (text: string) => void; err: (text: string) => void; env: NodeJS.ProcessEnv }> = {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
  },
): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (error) {
    io.err(`annals-pg: ${(error as Error).message}\n${usage}\n`)
    return 2
  }
  const { positionals, values } = parsed
  if (values.help) {
    io.out(`${usage}\n`)
    return 0
  }
  if (positionals[0] !== 'migrate') {
    io.err(`${usage}\n`)
    return 2
  }
  const connectionString = io.env.DATABASE_URL
  if (!connectionString) {
    io.err('annals-pg: DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/app)\n')
    return 2
  }
  const pool = new pg.Pool({ connectionString, max: 1, application_name: 'annals-pg migrate' })
  pool.on('error', () => undefined)
  try {
    const result = await migrate({
      pool,
      ...(values.schema !== undefined ? { schema: values.schema } : {}),
      ...(values['table-prefix'] !== undefined ? { tablePrefix: values['table-prefix'] } : {}),
    })
    io.out(
      result.applied.length > 0
        ? `annals-pg: applied ${result.applied.join(', ')} in schema "${result.schema}"\n`
        : `annals-pg: schema "${result.schema}" is up to date\n`,
    )
    return 0
  } catch (error) {
    const code = (error as { code?: unknown }).code
    io.err(`annals-pg: ${typeof code === 'string' ? `[${code}] ` : ''}${(error as Error).message}\n`)
    return 1
  } finally {
    await pool.end()
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { schema: { type: 'string' }, 'table-prefix': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  })
}

function isEntryPoint(): boolean {
  const script = process.argv[1]
  if (!script) return false
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code
  })
}
