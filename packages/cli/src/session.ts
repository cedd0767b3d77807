import type { EventStore, LogWatcher } from '@annals/core'
import { createProjectionAdmin, DEFAULT_SCHEMA, type ProjectionAdmin } from '@annals/projections'
import { createPostgresEventStore, createPostgresLogWatcher, migrate } from '@annals/store-postgres'
import { type Command, Option } from 'commander'
import type pg from 'pg'
import { type AnnalsConfig, findConfigFile, loadConfig } from './config.js'
import { type Connections, openConnections, pingRedis } from './connections.js'

/** Where the CLI reads and writes (injectable for tests and embedding). */
export type CliIo = Readonly<{
  env: NodeJS.ProcessEnv
  cwd: string
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Whether stderr is a terminal (live progress bars) or not (a progress line per second). */
  isTTY?: boolean
}>

/** What a command works with: the loaded config (empty without one), open connections, the schema. */
export type Session = Readonly<{ config: AnnalsConfig; connections: Connections; schema: string }>

/**
 * Runs `work` with an open session and closes its connections afterwards. Commands that only touch
 * the Annals tables pass `'optional'`: they work without a config file (defaults) but honour one.
 */
export type WithSession = <T>(work: (session: Session) => Promise<T>, config?: 'required' | 'optional') => Promise<T>

/** The session runner of `program`, reading its global `--config`, `--schema` and `--database-url` when a command runs. */
export function sessionRunner(program: Command, io: CliIo): WithSession {
  return async (work, config = 'required') => {
    const opts = program.opts<{ config?: string; schema?: string; databaseUrl?: string }>()
    const env = opts.databaseUrl ? { ...io.env, DATABASE_URL: opts.databaseUrl } : io.env
    const connections = await openConnections(env)
    try {
      let loaded: AnnalsConfig = { projections: [] }
      let file: string | null = null
      try {
        file = findConfigFile(io.cwd, opts.config)
      } catch (error) {
        if (config === 'required' || opts.config) throw error
      }
      if (file) {
        loaded = await loadConfig(file, { pool: connections.pool, redis: () => connections.redis(), env })
      }
      if (loaded.projections.some((p) => p.sink.kind === 'redis') && env.REDIS_URL) {
        // A Redis sink's client comes from the config; check the server answers before relying on it.
        await pingRedis(connections.redis(), env)
      }
      const schema = opts.schema ?? loaded.schema ?? DEFAULT_SCHEMA
      return await work({ config: loaded, connections, schema })
    } finally {
      await connections.close()
    }
  }
}

/** The event store a command reads or migrates: the config's own, or the Postgres store on the pool. */
export type StoreAdapter = Readonly<{
  store: EventStore
  watcher?: LogWatcher
  /** Migrates the store's tables; resolves to the migrations applied, or null when the config's store migrated itself. */
  migrate: (tablePrefix: string) => Promise<readonly string[] | null>
  close: () => Promise<void>
}>

/** Opens the config's store when it gives one, else `@annals/store-postgres` in `schema` with `tablePrefix`. */
export async function openStore(
  pool: pg.Pool,
  schema: string,
  config: AnnalsConfig,
  tablePrefix = '',
): Promise<StoreAdapter> {
  if (config.store) {
    const own = config.store
    return {
      store: own.eventStore,
      ...(own.watcher ? { watcher: own.watcher } : {}),
      // The config's store has its own location: the command line's table prefix is not its business.
      migrate: async () => {
        await own.migrate?.()
        return null
      },
      // The config's store is the config's to close.
      close: async () => {},
    }
  }
  const watcher = createPostgresLogWatcher({ pool, schema, tablePrefix })
  return {
    store: createPostgresEventStore({ pool, schema, tablePrefix }),
    watcher,
    migrate: async (tablePrefix) => (await migrate({ pool, schema, tablePrefix })).applied,
    close: () => watcher.close(),
  }
}

/**
 * Adds the subcommand `name` of `parent` with `--table-prefix <prefix>`, the one name of the option
 * wherever a command takes a table prefix (`--prefix`, the outbox commands' earlier spelling, still
 * works but is not shown in the help). `what` names the tables in the help text.
 */
export function prefixedCommand(parent: Command, name: string, description: string, what: string): Command {
  return parent
    .command(name)
    .description(description)
    .option('--table-prefix <prefix>', `table prefix of the ${what} (default: none)`)
    .addOption(new Option('--prefix <prefix>').hideHelp())
}

/** The options {@link prefixedCommand} adds to a command. */
export type TablePrefixOptions = Readonly<{ tablePrefix?: string; prefix?: string }>

/** The table prefix given to a command built with {@link prefixedCommand}. */
export function tablePrefixOf(options: TablePrefixOptions): string {
  return options.tablePrefix ?? options.prefix ?? ''
}

/** The projection admin API over the projection tables of the session's schema and the command's table prefix. */
export function projectionAdmin({ connections, schema }: Session, options: TablePrefixOptions): ProjectionAdmin {
  return createProjectionAdmin({ pool: connections.pool, schema, tablePrefix: tablePrefixOf(options) })
}
