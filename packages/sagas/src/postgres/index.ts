export {
  type MigrateSagasOptions,
  type MigrateSagasResult,
  migrateSagas,
} from './migrate-sagas.js'
export {
  createReactorProjection,
  type ReactorProjectionOptions,
  reactorProjectionName,
} from './reactor-projection.js'
export {
  countSagas,
  type GetSagaOptions,
  getSaga,
  type ListSagasOptions,
  listSagas,
  type SagaDetails,
  type SagaHistoryEntry,
  type SagaSummary,
} from './saga-admin.js'
export { DEFAULT_SAGA_SCHEMA } from './saga-tables.js'
export { createSagaWorker, type SagaWorker, type SagaWorkerOptions } from './saga-worker.js'
export { type StartSagaTarget, startSaga } from './start-saga.js'
