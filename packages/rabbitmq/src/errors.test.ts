import { errorCatalogueSuite } from '@annals/core/testing'
import { describe, expect, it } from 'vitest'
import * as errors from './errors.js'
import * as api from './index.js'

const instances = [
  new errors.RabbitMqInvalidOptionError('prefetch', 'bad'),
  new errors.RabbitMqNackedError(['m']),
  new errors.RabbitMqUnroutableError(['m'], 'x', 'a.b', 'NO_ROUTE'),
  new errors.RabbitMqChannelClosedError('closed'),
  new errors.RabbitMqDeclarationError('queue "q"'),
  new errors.RabbitMqInvalidMessageError('m', 'bad'),
  new errors.RabbitMqNoHandlerError('T'),
  new errors.RabbitMqDeliveryLimitError(5, 'too often'),
  new errors.RabbitMqAlreadyStartedError('x'),
]

errorCatalogueSuite({
  name: '@annals/rabbitmq',
  codes: errors.RabbitMqErrorCodes,
  prefix: 'ANNALS_RABBITMQ_ERR_',
  entry: api,
  instances,
  docs: new URL('../docs/errors.md', import.meta.url),
  guards: [[errors.isRabbitMqPublishError, errors.RabbitMqErrorCodes.NACKED]],
})

describe('@annals/rabbitmq error exports', () => {
  it('exports the codes and every error class and guard from the package entry (errorLine is internal)', () => {
    expect(api.RabbitMqErrorCodes).toBe(errors.RabbitMqErrorCodes)
    for (const [name, value] of Object.entries(errors)) {
      if (name === 'errorLine') continue
      expect((api as Record<string, unknown>)[name], name).toBe(value)
    }
  })

  it('isRabbitMqPublishError accepts the three publish failures and nothing else', () => {
    expect(errors.isRabbitMqPublishError(new errors.RabbitMqNackedError(['m']))).toBe(true)
    expect(errors.isRabbitMqPublishError(new errors.RabbitMqUnroutableError(['m'], 'x', 'k', 'NO_ROUTE'))).toBe(true)
    expect(errors.isRabbitMqPublishError(new errors.RabbitMqChannelClosedError('c'))).toBe(true)
    expect(errors.isRabbitMqPublishError(new errors.RabbitMqNoHandlerError('T'))).toBe(false)
  })
})
