import { errorCatalogueSuite } from '@annals/core/testing'
import { describe, expect, it } from 'vitest'
import * as errors from './errors.js'
import * as api from './index.js'

const instances = [
  new errors.OutboxInvalidOptionError('batchSize', 'bad'),
  new errors.InvalidPublicationError('E', 'bad'),
  new errors.OutboxMigrationError('bad', undefined),
  new errors.PublishFailedError(['m'], 'bad'),
  new errors.PublishTimeoutError(5),
  new errors.MalformedMessageError('1-0', 'bad'),
  new errors.OutboxAlreadyStartedError('x'),
  new errors.RedriveFailedError(1, ['1-0']),
]

errorCatalogueSuite({
  name: '@annals/outbox',
  codes: errors.OutboxErrorCodes,
  prefix: 'ANNALS_OUTBOX_ERR_',
  entry: api,
  instances,
  docs: new URL('../docs/errors.md', import.meta.url),
  guards: [[errors.isPublishFailedError, errors.OutboxErrorCodes.PUBLISH_FAILED]],
})

describe('@annals/outbox error exports', () => {
  it('exports the codes and every error class and guard from the package entry', () => {
    expect(api.OutboxErrorCodes).toBe(errors.OutboxErrorCodes)
    for (const [name, value] of Object.entries(errors)) {
      expect((api as Record<string, unknown>)[name], name).toBe(value)
    }
  })

  it('isPublishFailedError tells a publish failure from a publish timeout', () => {
    expect(errors.isPublishFailedError(new errors.PublishFailedError(['m'], 'bad'))).toBe(true)
    expect(errors.isPublishFailedError(new errors.PublishTimeoutError(5))).toBe(false)
  })
})
