import { errorCatalogueSuite } from '@annals/core/testing'
import * as sagas from './index.js'

errorCatalogueSuite({
  name: '@annals/sagas',
  codes: sagas.SagaErrorCodes,
  prefix: 'ANNALS_SAGA_ERR_',
  entry: sagas,
  instances: [
    new sagas.InvalidSagaDefinitionError('s', 'bad'),
    new sagas.InvalidSagaIdentifierError('schema', 'Bad'),
    new sagas.InvalidSagaOptionError('limit', 'bad'),
    new sagas.UnknownSagaError('s', ['t']),
    new sagas.SagaNotFoundError('s', 'id'),
    new sagas.CorruptSagaHistoryError('saga-s-id', 'bad'),
    new sagas.SagaMigrationError('failed', '0001'),
    new sagas.SagaWorkerAlreadyStartedError(),
  ],
  docs: new URL('../docs/errors.md', import.meta.url),
  guards: [
    [sagas.isSagaNotFoundError, 'ANNALS_SAGA_ERR_NOT_FOUND'],
    [sagas.isCorruptSagaHistoryError, 'ANNALS_SAGA_ERR_CORRUPT_HISTORY'],
  ],
})
