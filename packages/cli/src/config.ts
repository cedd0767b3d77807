import { existsSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { EventStore, LogWatcher } from '@annals/core'
import type { AnyProjection } from '@annals/projections'
import type { Redis } from 'ioredis'
import type { Pool } from 'pg'
import { ConfigInvalidError, ConfigNotFoundError } from './errors.js'

/** What an `annals.config.*` file exports (as default export, or as a named `config`). */
export type AnnalsConfig = Readonly<{
  projections: readonly AnyProjection[]
  /** Schema of the event store and projection tables. Default `annals`. */
  schema?: string
  /**
   * The event store the CLI reads when it runs a rebuild itself, and how to migrate it. Default: the
   * Postgres store of `@annals/store-postgres` on DATABASE_URL (`createPostgresEventStore`,
   * `createPostgresLogWatcher`, `migrate`).
   */
  store?: Readonly<{ eventStore: EventStore; watcher?: LogWatcher; migrate?: () => Promise<unknown> }>
}>

/** Connections the CLI opens from the environment and hands to a config function. */
export type AnnalsConfigContext = Readonly<{
  /** A pool on DATABASE_URL (the CLI closes it). */
  pool: Pool
  /** A Redis client on REDIS_URL, created on first call (the CLI closes it). */
  redis(): Redis
  env: NodeJS.ProcessEnv
}>

/** A config file's default export: the config itself, or a function of the CLI's connections. */
export type AnnalsConfigExport = AnnalsConfig | ((context: AnnalsConfigContext) => AnnalsConfig | Promise<AnnalsConfig>)

/** Identity helper that types a config file. */
export function defineConfig<C extends AnnalsConfigExport>(config: C): C {
  return config
}

/** File names looked for, in order. */
export const CONFIG_FILES = ['annals.config.ts', 'annals.config.mts', 'annals.config.mjs', 'annals.config.js'] as const

/** Finds the config file: the given path, or the first of {@link CONFIG_FILES} in `cwd`. */
export function findConfigFile(cwd: string, explicit?: string): string {
  if (explicit) {
    const file = isAbsolute(explicit) ? explicit : resolve(cwd, explicit)
    if (!existsSync(file)) throw new ConfigNotFoundError([file])
    return file
  }
  const candidates = CONFIG_FILES.map((name) => resolve(cwd, name))
  const found = candidates.find((file) => existsSync(file))
  if (!found) throw new ConfigNotFoundError(candidates)
  return found
}

async function importModule(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href
  if (/\.[mc]?ts$/.test(file)) {
    // TypeScript configs load through tsx's API, so projects need no build step for the CLI.
    const { tsImport } = await import('tsx/esm/api')
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>
  }
  return (await import(url)) as Record<string, unknown>
}

/** Loads and validates the config file; a function export is called with the CLI's connections. */
export async function loadConfig(file: string, context: AnnalsConfigContext): Promise<AnnalsConfig> {
  let mod: Record<string, unknown>
  try {
    mod = await importModule(file)
  } catch (error) {
    throw new ConfigInvalidError(file, `failed to load: ${(error as Error).message}`, { cause: error })
  }
  // tsx may wrap a CommonJS-looking module's exports in `default`.
  let exported = mod.default ?? mod.config
  if (exported && typeof exported === 'object' && 'default' in exported && !('projections' in exported)) {
    exported = (exported as { default: unknown }).default
  }
  if (exported === undefined) throw new ConfigInvalidError(file, 'no default export (or export named "config")')
  let config: unknown
  try {
    config =
      typeof exported === 'function' ? await (exported as (c: AnnalsConfigContext) => unknown)(context) : exported
  } catch (error) {
    throw new ConfigInvalidError(file, `the config function threw: ${(error as Error).message}`, { cause: error })
  }
  if (typeof config !== 'object' || config === null) throw new ConfigInvalidError(file, 'the export is not an object')
  const { projections, schema, store } = config as { projections?: unknown; schema?: unknown; store?: unknown }
  if (!Array.isArray(projections)) throw new ConfigInvalidError(file, '"projections" must be an array')
  for (const [i, p] of projections.entries()) {
    const candidate = p as Partial<AnyProjection> | null
    if (!candidate || typeof candidate.name !== 'string' || typeof candidate.handle !== 'function' || !candidate.sink) {
      throw new ConfigInvalidError(file, `projections[${i}] is not a projection (use defineProjection)`)
    }
  }
  if (schema !== undefined && typeof schema !== 'string')
    throw new ConfigInvalidError(file, '"schema" must be a string')
  if (store !== undefined) {
    const candidate = store as { eventStore?: { readAll?: unknown } } | null
    if (typeof candidate?.eventStore?.readAll !== 'function') {
      throw new ConfigInvalidError(file, '"store.eventStore" must be an EventStore')
    }
  }
  return {
    projections: projections as AnyProjection[],
    ...(schema !== undefined ? { schema } : {}),
    ...(store !== undefined ? { store: store as NonNullable<AnnalsConfig['store']> } : {}),
  }
}
