import { errorCatalogueSuite } from '@annals/core/testing'
import { describe, expect, it } from 'vitest'
import * as errors from './errors.js'
import * as api from './index.js'

const where = { topic: 't', partition: 0, offset: '1' }
const instances = [
  new errors.KafkaInvalidOptionError('brokers', 'bad'),
  new errors.KafkaAlreadyStartedError('x'),
  new errors.KafkaInvalidMessageError(where, 'bad'),
  new errors.KafkaGroupActiveError('g', 2, 'STABLE'),
  new errors.KafkaUnknownGroupError('g'),
  new errors.KafkaUnknownTopicError('t'),
  new errors.KafkaBrokerError('listGroups', { cause: new Error('down') }),
]

errorCatalogueSuite({
  name: '@annals/kafka',
  codes: errors.KafkaErrorCodes,
  prefix: 'ANNALS_KAFKA_ERR_',
  entry: api,
  instances,
  docs: new URL('../docs/errors.md', import.meta.url),
  guards: [[errors.isKafkaGroupActiveError, errors.KafkaErrorCodes.GROUP_ACTIVE]],
})

describe('@annals/kafka error exports', () => {
  it('exports the codes and every error class and guard from the package entry', () => {
    expect(api.KafkaErrorCodes).toBe(errors.KafkaErrorCodes)
    for (const [name, value] of Object.entries(errors)) {
      expect((api as Record<string, unknown>)[name], name).toBe(value)
    }
  })

  it('a group-active error names the group, its members and state', () => {
    expect(new errors.KafkaGroupActiveError('billing', 2, 'STABLE')).toMatchObject({
      group: 'billing',
      members: 2,
      state: 'STABLE',
    })
  })

  it('parseBrokers refuses an empty or malformed list with a typed error', () => {
    expect(api.parseBrokers('a:1, b:2')).toEqual(['a:1', 'b:2'])
    expect(() => api.parseBrokers('')).toThrow(errors.KafkaInvalidOptionError)
    expect(() => api.parseBrokers(['nohost'])).toThrow(/host:port/)
  })
})
