import type { EventStore, LogWatcher } from '@annals/core'
import { DEFAULT_SCHEMA } from '@annals/projections'
import { createPostgresEventStore, createPostgresLogWatcher, migrate } from '@annals/store-postgres'
import type { Command } from 'commander'
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

/** The session runner of `program`, reading its global `--config` and `--schema` when a command runs. */
export function sessionRunner(program: Command, io: CliIo): WithSession {
  return async (work, config = 'required') => {
    const opts = program.opts<{ config?: string; schema?: string }>()
    const connections = await openConnections(io.env)
    try {
      let loaded: AnnalsConfig = { projections: [] }
      let file: string | null = null
      try {
        file = findConfigFile(io.cwd, opts.config)
      } catch (error) {
        if (config === 'required' || opts.config) throw error
      }
      if (file) {
        loaded = await loadConfig(file, { pool: connections.pool, redis: () => connections.redis(), env: io.env })
      }
      if (loaded.projections.some((p) => p.sink.kind === 'redis') && io.env.REDIS_URL) {
        // A Redis sink's client comes from the config; check the server answers before relying on it.
        await pingRedis(connections.redis(), io.env)
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
  migrate: () => Promise<void>
  close: () => Promise<void>
}>

/** Opens the config's store when it gives one, else `@annals/store-postgres` in `schema`. */
export async function openStore(pool: pg.Pool, schema: string, config: AnnalsConfig): Promise<StoreAdapter> {
  if (config.store) {
    const own = config.store
    return {
      store: own.eventStore,
      ...(own.watcher ? { watcher: own.watcher } : {}),
      migrate: async () => {
        await own.migrate?.()
      },
      // The config's store is the config's to close.
      close: async () => {},
    }
  }
  const watcher = createPostgresLogWatcher({ pool, schema })
  return {
    store: createPostgresEventStore({ pool, schema }),
    watcher,
    migrate: async () => {
      await migrate({ pool, schema })
    },
    close: () => watcher.close(),
  }
}
