import type { Client } from '@elastic/elasticsearch'
import { describe, expectTypeOf, it } from 'vitest'
import { type AccountDoc, accountsProjection } from '../test/accounts.js'
import { createSearch, type SearchResult } from './search.js'
import { createElasticsearchSink } from './sink/create-elasticsearch-sink.js'

declare const client: Client

describe('createSearch types', () => {
  it('infers the document type from the projection and types hits and sort fields', () => {
    const sink = createElasticsearchSink<AccountDoc>({ client })
    const reader = createSearch(client, accountsProjection('accounts', 1, sink))
    expectTypeOf(reader.search).returns.resolves.toEqualTypeOf<SearchResult<AccountDoc>>()
    expectTypeOf(reader.get).returns.resolves.toEqualTypeOf<AccountDoc | null>()
    reader.search({ sort: [{ balance: 'desc' }, 'owner', '_score'] })
    // @ts-expect-error not a field of AccountDoc
    reader.search({ sort: [{ nope: 'asc' }] })
    // @ts-expect-error sort order is asc or desc
    reader.search({ sort: [{ balance: 'up' }] })
  })

  it('takes an explicit document type with a projection name', () => {
    const reader = createSearch<{ title: string }>(client, 'books', { indexPrefix: 'app-' })
    expectTypeOf(reader.search).returns.resolves.toEqualTypeOf<SearchResult<{ title: string }>>()
  })
})
