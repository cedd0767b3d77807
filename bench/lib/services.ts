import { randomBytes } from 'node:crypto'
import { Client as SearchClient, SniffingTransport } from '@elastic/elasticsearch'
import { Redis } from 'ioredis'
import pg from 'pg'

/** Where the services live; overridable for other machines. */
export const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const SEARCH_URL = process.env.BENCH_SEARCH_URL ?? 'http://127.0.0.1:9200'

type Cleanup = () => Promise<void>

const cleanups: Cleanup[] = []

/** Registers a cleanup that runs at the end of the current workload, or on SIGINT/SIGTERM. */
export function onCleanup(fn: Cleanup): void {
  cleanups.push(fn)
}

/** Runs (newest first) and forgets every registered cleanup; one failing never stops the others. */
export async function runCleanups(log: (msg: string) => void): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!
    try {
      await fn()
    } catch (error) {
      log(`cleanup failed: ${(error as Error).message}`)
    }
  }
}

let signalled = false
/** On Ctrl-C the databases, keys and indices created so far are still dropped. */
export function installSignalCleanup(log: (msg: string) => void): void {
  const handler = (signal: NodeJS.Signals) => {
    if (signalled) process.exit(130)
    signalled = true
    log(`${signal}: cleaning up`)
    void runCleanups(log).finally(() => process.exit(130))
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
}

function suffix(): string {
  return randomBytes(4).toString('hex')
}

function checkName(workload: string): void {
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(workload)) throw new Error(`bad workload name ${workload}`)
}

/** A database created for one workload, dropped (with its connections) by the cleanup. */
export type BenchDatabase = Readonly<{
  name: string
  url: string
  /** A pool of up to `max` connections to this database, closed by the cleanup. */
  pool: (max?: number) => pg.Pool
}>

/** Creates `annals_bench_<workload>_<random>` and registers its drop. */
export async function createDatabase(workload: string): Promise<BenchDatabase> {
  checkName(workload)
  const name = `annals_bench_${workload}_${suffix()}`
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  const pools: pg.Pool[] = []
  onCleanup(async () => {
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)))
    const c = new pg.Client({ connectionString: PG_ADMIN_URL })
    await c.connect()
    try {
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    } finally {
      await c.end()
    }
  })
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`)
  return {
    name,
    url,
    pool: (max = 4) => {
      const p = new pg.Pool({ connectionString: url, max })
      // An idle client that errors (e.g. the database is dropped under it) must not crash the run.
      p.on('error', () => undefined)
      pools.push(p)
      return p
    },
  }
}

/** A Redis connection plus a key prefix private to one workload; the cleanup deletes every key under it. */
export type BenchRedis = Readonly<{ client: Redis; prefix: string; connect: () => Redis }>

/** Opens Redis for one workload with prefix `annals-bench:<workload>:<random>:`. */
export async function createRedis(workload: string): Promise<BenchRedis> {
  checkName(workload)
  const prefix = `annals-bench:${workload}:${suffix()}:`
  const clients: Redis[] = []
  const connect = () => {
    const c = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 3 })
    c.on('error', () => undefined)
    clients.push(c)
    return c
  }
  const client = connect()
  await client.ping()
  onCleanup(async () => {
    await deleteKeys(client, `${prefix}*`)
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())))
  })
  return { client, prefix, connect }
}

/** Deletes every key matching `pattern` (SCAN + UNLINK, never FLUSHDB). */
export async function deleteKeys(client: Redis, pattern: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) deleted += await client.unlink(...keys)
  } while (cursor !== '0')
  return deleted
}

type TransportOptions = ConstructorParameters<typeof SniffingTransport>[0]

/**
 * Lets the Elasticsearch v9 client talk to OpenSearch 2.x (see /work/shared/engines.md §2): no product
 * check, plain JSON media types. Against a real Elasticsearch the default transport is used.
 */
class OpenSearchCompatTransport extends SniffingTransport {
  constructor(opts: TransportOptions) {
    super({
      ...opts,
      productCheck: undefined,
      vendoredHeaders: {
        jsonContentType: 'application/json',
        ndjsonContentType: 'application/x-ndjson',
        accept: 'application/json, text/plain',
      },
    })
  }
}

/** The search engine for one workload: a client and an index-name prefix; the cleanup deletes its indices. */
export type BenchSearch = Readonly<{ client: SearchClient; prefix: string; engine: string }>

/** What answers at {@link SEARCH_URL}, or null when nothing does. */
export async function probeSearch(): Promise<{ engine: string; version: string } | null> {
  try {
    const res = await fetch(SEARCH_URL, { signal: AbortSignal.timeout(2000) })
    if (!res.ok) return null
    const body = (await res.json()) as { version?: { number?: string; distribution?: string } }
    return { engine: body.version?.distribution ?? 'elasticsearch', version: body.version?.number ?? '?' }
  } catch {
    return null
  }
}

/** Opens the search engine for one workload with index prefix `annals-bench-<workload>-<random>`. */
export async function createSearch(workload: string): Promise<BenchSearch | null> {
  checkName(workload)
  const probe = await probeSearch()
  if (!probe) return null
  const client = new SearchClient({
    node: SEARCH_URL,
    ...(probe.engine === 'opensearch' ? { Transport: OpenSearchCompatTransport } : {}),
  })
  const prefix = `annals-bench-${workload.replaceAll('_', '-')}-${suffix()}`
  onCleanup(async () => {
    try {
      // Explicit names: Elasticsearch 8+ refuses wildcard deletes by default (destructive_requires_name).
      const found = await client.indices.get({ index: `${prefix}*`, allow_no_indices: true, ignore_unavailable: true })
      const names = Object.keys(found)
      if (names.length > 0) await client.indices.delete({ index: names })
    } finally {
      await client.close()
    }
  })
  return { client, prefix, engine: `${probe.engine} ${probe.version}` }
}
