import { randomBytes } from 'node:crypto'
import type { Client } from '@elastic/elasticsearch'
import pg from 'pg'
import { connectSearchEngine } from '../src/compat-transport.js'

export const ELASTICSEARCH_URL = process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200'
export const PG_ADMIN_URL = process.env.ANNALS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export function randomSuffix(): string {
  return randomBytes(5).toString('hex')
}

/**
 * A client for the engine under test (compat transport when SEARCH_ENGINE=opensearch or when the node
 * says it is OpenSearch) and a random index prefix; `cleanup()` deletes only indices under that prefix.
 */
export async function createTestEngine(): Promise<{ client: Client; indexPrefix: string; cleanup(): Promise<void> }> {
  const forced = process.env.SEARCH_ENGINE
  const engine = forced === 'opensearch' || forced === 'elasticsearch' ? forced : 'auto'
  const client = await connectSearchEngine(ELASTICSEARCH_URL, { engine })
  const indexPrefix = `annals-t-${randomSuffix()}-`
  return {
    client,
    indexPrefix,
    async cleanup() {
      // Explicit names: clusters may refuse wildcard deletes (action.destructive_requires_name).
      const res = await client.indices.get({ index: `${indexPrefix}*`, expand_wildcards: 'all' }, { ignore: [404] })
      const names = Object.keys(res).filter((n) => n.startsWith(indexPrefix))
      if (names.length > 0) await client.indices.delete({ index: names, ignore_unavailable: true })
      await client.close()
    },
  }
}

/** A throwaway database; `drop()` removes it. */
export async function createTestDatabase(prefix = 'annals_es') {
  const name = `${prefix}_${randomSuffix()}`
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${name}`
  const pool = new pg.Pool({ connectionString: url.toString(), max: 10 })
  // drop() terminates leftover sessions; an idle client learning it is not a test failure.
  pool.on('error', () => {})
  return {
    name,
    url: url.toString(),
    pool,
    async drop() {
      await pool.end().catch(() => {})
      const c = new pg.Client({ connectionString: PG_ADMIN_URL })
      await c.connect()
      await c.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      )
      await c.query(`DROP DATABASE IF EXISTS ${name}`)
      await c.end()
    },
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== null && value !== false) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
