import type { Event } from '@annals/core'
import type { estypes } from '@elastic/elasticsearch'
import { defineElasticsearchProjection } from '../src/define-elasticsearch-projection.js'
import type { ElasticsearchSink } from '../src/sink/create-elasticsearch-sink.js'

export type Opened = Event<'Opened', { owner: string; openedAt?: string }>
export type Deposited = Event<'Deposited', { amount: number }>
export type Closed = Event<'Closed', Record<string, never>>
export type AccountEvent = Opened | Deposited | Closed

/** The read-model document of an account. */
export type AccountDoc = { id: string; owner: string; balance: number; deposits: number; openedAt?: string }

export const accountMappings: estypes.MappingTypeMapping = {
  dynamic: 'strict',
  properties: {
    id: { type: 'keyword' },
    owner: { type: 'keyword' },
    balance: { type: 'long' },
    deposits: { type: 'integer' },
    openedAt: { type: 'date' },
  },
}

/** An accounts projection: read-modify-write handlers, so a double application would show. */
export function accountsProjection(name: string, version: number, sink: ElasticsearchSink<AccountDoc>) {
  return defineElasticsearchProjection({
    name,
    version,
    handles: ['Opened', 'Deposited', 'Closed'] as const,
    sink,
    handlers: {
      Opened: (e, es) => {
        const d = e.data as Opened['data']
        es.index(e, e.streamId, {
          id: e.streamId,
          owner: d.owner,
          balance: 0,
          deposits: 0,
          ...(d.openedAt ? { openedAt: d.openedAt } : {}),
        })
      },
      Deposited: (e, es) =>
        es.update(e, e.streamId, (a) => {
          const amount = (e.data as Deposited['data']).amount
          return a && { ...a, balance: a.balance + amount, deposits: a.deposits + 1 }
        }),
      Closed: (e, es) => es.delete(e, e.streamId),
    },
  })
}
