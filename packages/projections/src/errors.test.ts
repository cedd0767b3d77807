import { errorCatalogueSuite } from '@annals/core/testing'
import { describe, expect, it } from 'vitest'
import * as projections from './index.js'

errorCatalogueSuite({
  name: '@annals/projections',
  codes: projections.ProjectionErrorCodes,
  prefix: 'ANNALS_PROJ_ERR_',
  entry: projections,
  instances: [
    new projections.ProjectionInvalidIdentifierError('schema', 'Bad'),
    new projections.InvalidProjectionDefinitionError('p', 'bad'),
    new projections.ProjectionInvalidOptionError('batchSize', 'bad'),
    new projections.DuplicateProjectionError('p'),
    new projections.UnknownProjectionError('p', ['q']),
    new projections.ProjectionMigrationError('failed', '0001'),
    new projections.LeaseLostError('p', 3n),
    new projections.HandlerFailedError('p', 'id', 0, { cause: new Error('x') }),
    new projections.SinkFailedError('redis', 'down'),
    new projections.ProjectionAlreadyStartedError(),
    new projections.DeadLetterNotFoundError(7n),
    new projections.ProjectionTimeoutError('idle', 10),
    new projections.ProjectionSupersededError('p', 1, 2),
  ],
  docs: new URL('../docs/errors.md', import.meta.url),
  guards: [
    [projections.isLeaseLostError, projections.ProjectionErrorCodes.LEASE_LOST],
    [projections.isHandlerFailedError, projections.ProjectionErrorCodes.HANDLER_FAILED],
    [projections.isProjectionSupersededError, projections.ProjectionErrorCodes.SUPERSEDED],
  ],
})

describe('error guards', () => {
  it('need nothing but the code', () => {
    expect(projections.isLeaseLostError({ code: 'ANNALS_PROJ_ERR_LEASE_LOST' })).toBe(true)
    expect(projections.isHandlerFailedError({ code: 'ANNALS_PROJ_ERR_HANDLER_FAILED' })).toBe(true)
    expect(projections.isLeaseLostError(new Error('x'))).toBe(false)
  })
})
