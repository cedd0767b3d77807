import type { RecordedEvent } from '@annals/core'
import { type AnyProjection, createPostgresSink, defineProjection } from '@annals/projections'
import type { Pool } from 'pg'
import type { SagaEngine } from '../engine/saga-engine-types.js'
import { type AnySagaDefinition, sagaStreamId } from '../saga-definition.js'
import type { SagaStarted } from '../saga-events.js'
import { ensureInstanceRow, wakeInstance } from './saga-instances.js'
import type { SagaTables } from './saga-tables.js'

/** What {@link createSagaRouter} routes for. @internal */
export type SagaRouterOptions = Readonly<{
  pool: Pool
  tables: SagaTables
  engine: SagaEngine
  sagas: readonly AnySagaDefinition[]
  /** The projection's name (unique per projection schema). */
  name: string
}>

/**
 * The log subscription of the saga worker, as a projection: queues the instances that `SagaStarted`
 * and trigger events start, and wakes the instances an awaited event was delivered to.
 * @internal
 */
export function createSagaRouter(options: SagaRouterOptions): AnyProjection {
  const { engine, tables: t } = options
  // Prefixed like the saga tables, so two prefixed deployments in one schema keep their own.
  const routerTable = t.raw('saga_router')
  const triggerTypes = new Set(options.sagas.flatMap((s) => s.startedBy.map((x) => x.type)))
  const awaitedTypes = new Set(
    options.sagas.flatMap((s) => s.steps.flatMap((x) => [...(x.awaits?.success ?? []), ...(x.awaits?.failure ?? [])])),
  )
  return defineProjection({
    name: options.name,
    version: 1,
    handles: [...new Set(['SagaStarted', ...engine.handledTypes])],
    sink: createPostgresSink({
      pool: options.pool,
      schema: t.schema,
      tables: {
        [routerTable]: (name: string) =>
          `CREATE TABLE ${name} (id int PRIMARY KEY, last_event_id text NOT NULL, routed_at timestamptz NOT NULL)`,
      },
    }),
    // Runs in the runner's transaction: the rows written here commit with its checkpoint, so a crash
    // redelivers the event and the (idempotent) start or delivery is simply repeated.
    async apply(event: RecordedEvent, { client, table }) {
      if (event.type === 'SagaStarted') {
        const data = event.data as Partial<SagaStarted['data']>
        if (
          typeof data.saga === 'string' &&
          typeof data.sagaId === 'string' &&
          engine.sagas.has(data.saga) &&
          event.streamId === sagaStreamId(data.saga, data.sagaId)
        ) {
          await ensureInstanceRow(client, t, data.saga, data.sagaId)
        }
      }
      if (triggerTypes.has(event.type)) {
        for (const started of await engine.trigger(event)) {
          await ensureInstanceRow(client, t, started.saga, started.sagaId)
        }
      }
      if (awaitedTypes.has(event.type)) {
        for (const delivery of await engine.deliver(event))
          await wakeInstance(client, t, delivery.saga, delivery.sagaId)
      }
      await client.query(
        `INSERT INTO ${table(routerTable)} (id, last_event_id, routed_at) VALUES (1, $1, now())
         ON CONFLICT (id) DO UPDATE SET last_event_id = excluded.last_event_id, routed_at = now()`,
        [event.eventId],
      )
    },
  })
}
