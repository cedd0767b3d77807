import type { EventPublisher, OutboundMessage } from '@annals/core'
import { PublishFailedError } from '@annals/outbox'
import { describe, expect, it } from 'vitest'
import { publishToAll } from './rabbitmq-outbox.js'

const message = (id: string): OutboundMessage => ({
  messageId: id,
  topic: 't',
  partitionKey: 'k',
  type: 'T',
  payload: {},
  headers: {},
})
const ok = (seen: string[][]): EventPublisher => ({
  async publish(messages) {
    seen.push(messages.map((m) => m.messageId))
  },
})
const refusing = (ids: string[]): EventPublisher => ({
  async publish() {
    throw new PublishFailedError(ids, 'refused')
  },
})

describe('publishToAll', () => {
  it('acknowledges a batch once every broker acknowledged it', async () => {
    const a: string[][] = []
    const b: string[][] = []
    await publishToAll([ok(a), ok(b)]).publish([message('1'), message('2')])
    expect([a, b]).toEqual([[['1', '2']], [['1', '2']]])
  })

  it('names every message some broker refused, so the relay retries exactly those', async () => {
    const err = await publishToAll([refusing(['1']), refusing(['2']), ok([])])
      .publish([message('1'), message('2'), message('3')])
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ANNALS_OUTBOX_ERR_PUBLISH_FAILED', messageIds: ['1', '2'] })
  })

  it('passes on a failure that names no messages (the whole batch failed)', async () => {
    const boom = new Error('connection lost')
    const failing: EventPublisher = {
      async publish() {
        throw boom
      },
    }
    await expect(publishToAll([ok([]), failing]).publish([message('1')])).rejects.toBe(boom)
  })
})
