import {
  defineProjection,
  type HandledEvents,
  type HandledType,
  type Projection,
  type ProjectionInput,
} from '@annals/projections'
import type { ElasticsearchWriter } from './batch-writer.js'

/**
 * `defineProjection` for Elasticsearch read models. Same input; it also tells the writer where each
 * event ends, so a document the engine rejects is traced to the exact events that wrote it (they become
 * the dead letters, nothing else).
 * @example
 * const accounts = defineElasticsearchProjection({
 *   name: 'accounts', version: 1, handles: [AccountOpened, MoneyDeposited] as const, sink,
 *   handlers: {
 *     AccountOpened: (e, es) => es.index(e, e.streamId, { owner: e.data.owner, balance: 0 }),
 *     MoneyDeposited: (e, es) => es.update(e, e.streamId, (a) => a && { ...a, balance: a.balance + e.data.amount }),
 *   },
 * })
 */
export function defineElasticsearchProjection<const H extends readonly HandledType[], Doc extends object>(
  input: ProjectionInput<H, ElasticsearchWriter<Doc>>,
): Projection<HandledEvents<H>, ElasticsearchWriter<Doc>> {
  const userApply = input.apply
  return defineProjection<H, ElasticsearchWriter<Doc>>({
    ...input,
    async apply(event, ctx) {
      if (userApply) await userApply(event, ctx)
      // defineProjection calls apply after the type's handler, once per event of the batch, in order.
      const marker = (ctx as { endEvent?: () => void }).endEvent
      if (typeof marker === 'function') marker.call(ctx)
    },
  })
}
