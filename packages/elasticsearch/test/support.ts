import { randomBytes } from 'node:crypto'
import type { Client } from '@elastic/elasticsearch'
import { connectSearchEngine } from '../src/compat-transport.js'

export const ELASTICSEARCH_URL = process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200'

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
