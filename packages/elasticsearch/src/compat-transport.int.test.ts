import { Client } from '@elastic/elasticsearch'
import { describe, expect, it } from 'vitest'
import { ELASTICSEARCH_URL, randomSuffix } from '../test/support.js'
import { connectSearchEngine, detectSearchEngine } from './compat-transport.js'

describe('connecting the v9 client to the engine under test', () => {
  it('detects the engine and gets a client that indexes, bulks and searches', async () => {
    const kind = await detectSearchEngine(ELASTICSEARCH_URL)
    if (process.env.SEARCH_ENGINE === 'opensearch' || process.env.SEARCH_ENGINE === 'elasticsearch') {
      expect(kind).toBe(process.env.SEARCH_ENGINE)
    }
    const client = await connectSearchEngine(ELASTICSEARCH_URL)
    const index = `annals-t-${randomSuffix()}-compat`
    try {
      await client.indices.create({ index, settings: { number_of_replicas: 0 } })
      await client.bulk({ operations: [{ index: { _index: index, _id: 'a' } }, { n: 1 }], refresh: true })
      const res = await client.search<{ n: number }>({ index, query: { match_all: {} } })
      expect(res.hits.hits.map((h) => h._source)).toEqual([{ n: 1 }])
    } finally {
      await client.indices.delete({ index, ignore_unavailable: true })
      await client.close()
    }
  })

  it('shows why OpenSearch needs the compat transport: the stock client is refused', async () => {
    if ((await detectSearchEngine(ELASTICSEARCH_URL)) !== 'opensearch') return
    const stock = new Client({ node: ELASTICSEARCH_URL, maxRetries: 0 })
    try {
      await expect(stock.info()).rejects.toThrow(/not Elasticsearch|product/i)
    } finally {
      await stock.close()
    }
  })
})
