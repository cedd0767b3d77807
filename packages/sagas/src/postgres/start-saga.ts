import type { EventStore } from '@annals/core'
import type { Pool } from 'pg'
import { createSagaEngine } from '../engine/saga-engine.js'
import type { StartSagaOptions, StartSagaResult } from '../engine/saga-engine-types.js'
import type { SagaDefinition } from '../saga-definition.js'
import { ensureInstanceRow } from './saga-instances.js'
import { sagaTables } from './saga-tables.js'

/** Where {@link startSaga} records the new instance. */
export type StartSagaTarget = Readonly<{
  pool: Pool
  store: EventStore
  /** Schema of the saga tables. Default `annals`. */
  schema?: string
  /** Prefix of the saga tables' names, as given to `migrateSagas`. Default none. */
  tablePrefix?: string
}>

/**
 * Starts a saga instance from any process (an HTTP handler, a script): records `SagaStarted` in its
 * stream and queues it in `saga_instances`; a running saga worker drives it. Idempotent per saga id.
 * @example
 * await startSaga({ pool, store }, bankTransfer, { transferId, from, to, amount, currency })
 */
export async function startSaga<In, I>(
  target: StartSagaTarget,
  saga: SagaDefinition<In, I>,
  input: In,
  options?: StartSagaOptions,
): Promise<StartSagaResult> {
  const t = sagaTables(target)
  const result = await createSagaEngine({ store: target.store, sagas: [saga] }).start(saga, input, options)
  await ensureInstanceRow(target.pool, t, result.saga, result.sagaId)
  return result
}
