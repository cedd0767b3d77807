import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { OutboundMessage } from '@annals/core'
import { type SpawnedProcess, spawnTs, waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { createRabbitMqPublisher } from '../src/rabbitmq-publisher.js'
import { declareConsumerQueue } from '../src/topology.js'
import {
  AMQP_URL,
  appliedCounts,
  consumerSchema,
  eventStoreWithOutbox,
  outboxStatuses,
  type RabbitBed,
  useRabbitBed,
} from './helpers.js'

const bed = useRabbitBed('crash')
let schemas = 0

function spawnWorker(script: string, env: Record<string, string>): SpawnedProcess {
  return spawnTs(fileURLToPath(new URL(`./workers/${script}`, import.meta.url)), {
    env: { DATABASE_URL: bed.db.connectionString, AMQP_URL, ...env },
  })
}

const line = (worker: SpawnedProcess, prefix: string) =>
  waitFor(`"${prefix}" from the worker`, () => worker.lines.find((l) => l.startsWith(prefix)), 90_000)

async function fresh(bed: RabbitBed) {
  const schema = `crash_${++schemas}`
  await consumerSchema(bed, schema)
  const exchange = bed.name('x')
  const topology = await declareConsumerQueue({ connection: bed.connection, queue: bed.name('q'), exchange })
  return { schema, exchange, topology }
}

function deposit(exchange: string, seq: number): OutboundMessage {
  return {
    messageId: randomUUID(),
    topic: exchange,
    partitionKey: 'acct-1',
    type: 'AccountDeposited',
    payload: { cents: seq, seq },
    headers: {},
  }
}

describe('crashes', () => {
  it.each([
    ['inside the handler (effect written, not committed)', 'handler', 'HANDLING', 'processed'],
    ['after the commit, before the ack', 'after-commit', 'COMMITTED', 'duplicate'],
  ])('a consumer SIGKILLed %s: the message is redelivered and applied once', async (_, hang, prefix, redelivered) => {
    const t = await fresh(bed)
    const publisher = createRabbitMqPublisher({ connection: bed.connection })
    const messages = [1, 2, 3].map((i) => deposit(t.exchange, i))
    await publisher.publish(messages)
    await publisher.close?.()
    const env = { SCHEMA: t.schema, QUEUE: t.topology.queue }
    const doomed = spawnWorker('consumer-worker.ts', { ...env, HANG: hang })
    const caught = await line(doomed, prefix)
    expect(caught.split(' ')[1]).toBe(messages[0]?.messageId)
    await doomed.kill()
    const survivor = spawnWorker('consumer-worker.ts', env)
    await waitFor('every message applied', async () => (await appliedCounts(bed, t.schema)).size === 3, 90_000)
    await waitFor('three acks', () => survivor.lines.filter((l) => l.startsWith('DONE')).length === 3, 90_000)
    const applied = await appliedCounts(bed, t.schema)
    expect(messages.map((m) => applied.get(m.messageId))).toEqual([1, 1, 1])
    // The killed consumer's message came back to the survivor first: freshly applied when the crash
    // rolled its transaction back, a duplicate (recorded by the inbox, not applied) when it had committed.
    expect(survivor.lines.find((l) => l.startsWith('DONE'))).toBe(`DONE ${messages[0]?.messageId} ${redelivered}`)
    const { messageCount } = await (await bed.channel()).checkQueue(t.topology.queue)
    expect(messageCount).toBe(0)
  })

  it('a relay SIGKILLed between the confirm and the mark publishes again; the inbox absorbs the duplicate', async () => {
    const t = await fresh(bed)
    const outbox = `${t.schema}_store`
    const store = await eventStoreWithOutbox(bed, outbox, t.exchange)
    const { events } = await store.appendToStream('acct-1', [
      { type: 'AccountDeposited', data: { cents: 1, seq: 1 } },
      { type: 'AccountDeposited', data: { cents: 2, seq: 2 } },
    ])
    const doomed = spawnWorker('relay-worker.ts', { SCHEMA: outbox, HANG_AFTER_PUBLISH: '1' })
    const acked = (await line(doomed, 'ACKED')).slice('ACKED '.length).split(',')
    expect(acked).toEqual(events.map((e) => e.eventId))
    await doomed.kill()
    // Confirmed by the broker, never marked: the rows are still pending.
    expect(await outboxStatuses(bed, outbox)).toEqual({ pending: 2 })
    const relay = spawnWorker('relay-worker.ts', { SCHEMA: outbox })
    await waitFor('the rows marked sent', async () => (await outboxStatuses(bed, outbox)).sent === 2, 90_000)
    await relay.kill()
    const { messageCount } = await (await bed.channel()).checkQueue(t.topology.queue)
    expect(messageCount).toBe(4)
    const consumer = spawnWorker('consumer-worker.ts', { SCHEMA: t.schema, QUEUE: t.topology.queue })
    await waitFor('four acks', () => consumer.lines.filter((l) => l.startsWith('DONE')).length === 4, 90_000)
    const applied = await appliedCounts(bed, t.schema)
    expect(events.map((e) => applied.get(e.eventId))).toEqual([1, 1])
    expect(consumer.lines.filter((l) => l.startsWith('DONE')).map((l) => l.split(' ')[2])).toEqual([
      'processed',
      'processed',
      'duplicate',
      'duplicate',
    ])
  })
})
