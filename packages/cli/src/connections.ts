import { createRequire } from 'node:module'
import { parseDatabaseUrl, redactConnectionString } from '@annals/store-postgres'
import type { Redis } from 'ioredis'
import pg from 'pg'
import { MissingEnvError, MissingPackageError, UnreachableError } from './errors.js'
import { isPackageMissing } from './optional-packages.js'

// ioredis is an optional peer: an app without Redis installs the CLI without it, so it is loaded only
// when a command opens REDIS_URL (synchronously: `redis()` in the config returns the client).
const requireOptional = createRequire(import.meta.url)

/** The CLI's connections: a Postgres pool (checked on open) and a lazily created Redis client. */
export type Connections = Readonly<{
  pool: pg.Pool
  redis(): Redis
  close(): Promise<void>
}>

/** Opens DATABASE_URL (required) and prepares REDIS_URL (opened on first use). */
export async function openConnections(env: NodeJS.ProcessEnv): Promise<Connections> {
  const databaseUrl = env.DATABASE_URL
  if (!databaseUrl) {
    // An app on an embedded database (PGlite, as the bank demo without DATABASE_URL) holds it inside its
    // own process: the CLI can only work on a PostgreSQL server, and says so.
    throw new MissingEnvError(
      'DATABASE_URL',
      'the CLI needs the PostgreSQL server of the event store, e.g. DATABASE_URL=postgres://user@127.0.0.1:5432/db, or --database-url; an embedded PGlite database lives inside its app and cannot be opened from the CLI: run the app on that server too',
    )
  }
  // A malformed URL is a configuration error, not a DNS failure of whatever the driver read as the host.
  const { connectionString, redacted } = parseDatabaseUrl(databaseUrl, 'DATABASE_URL')
  const pool = new pg.Pool({ connectionString, max: 8, connectionTimeoutMillis: 5000 })
  pool.on('error', () => {})
  try {
    await pool.query('SELECT 1')
  } catch (error) {
    await pool.end().catch(() => {})
    throw new UnreachableError('postgres', redacted, { cause: error })
  }
  let redis: Redis | null = null
  return {
    pool,
    redis() {
      redis ??= connectRedis(env, 'the config uses Redis', 'projections')
      return redis
    },
    async close() {
      if (redis) redis.disconnect()
      await pool.end().catch(() => {})
    },
  }
}

/**
 * Opens REDIS_URL (required: `why` says what needs it) with few retries, so that a dead server fails a
 * command fast. Throws {@link MissingPackageError} naming `command` when ioredis is not installed.
 */
export function connectRedis(env: NodeJS.ProcessEnv, why: string, command: string): Redis {
  const url = env.REDIS_URL
  if (!url) throw new MissingEnvError('REDIS_URL', why)
  let ioredis: typeof import('ioredis')
  try {
    ioredis = requireOptional('ioredis') as typeof import('ioredis')
  } catch (error) {
    if (isPackageMissing(error, 'ioredis')) throw new MissingPackageError('ioredis', command, { cause: error })
    throw error
  }
  const client = new ioredis.Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, connectTimeout: 5000 })
  // Fail fast on an unreachable server instead of retrying forever inside a command.
  client.on('error', () => {})
  return client
}

/** Checks the Redis client answers, turning a connection failure into {@link UnreachableError}. */
export async function pingRedis(redis: Redis, env: NodeJS.ProcessEnv): Promise<void> {
  try {
    await redis.ping()
  } catch (error) {
    throw new UnreachableError('redis', redactConnectionString(env.REDIS_URL ?? ''), { cause: error })
  }
}
