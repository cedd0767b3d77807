import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { promisify } from 'node:util'
import type { OutboundMessage } from '@annals/core'
import { waitFor } from '@annals/test-support'
import amqp from 'amqplib'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createRabbitMqConsumer, defineRabbitMqHandler } from '../src/rabbitmq-consumer.js'
import { createRabbitMqPublisher } from '../src/rabbitmq-publisher.js'
import { declareConsumerQueue } from '../src/topology.js'
import { AMQP_URL, appliedCounts, consumerSchema, useRabbitBed } from './helpers.js'

const run = promisify(execFile)
const bed = useRabbitBed('reconnect')

/**
 * Closes, on the broker's side, the connection that announced `name` (what a broker restart or a
 * failover does to every client), through the broker's own CLI: the connection is found by its
 * `connection_name` client property, so connections of other suites are left alone.
 */
async function closeOnBroker(name: string): Promise<void> {
  const { stdout } = await run('rabbitmqctl', ['list_connections', 'pid', 'client_properties', '-q'])
  const line = stdout.split('\n').find((l) => l.includes(`{"connection_name","${name}"}`))
  const pid = line?.split('\t')[0]
  if (!pid) throw new Error(`no broker connection named ${name}:\n${stdout}`)
  await run('rabbitmqctl', ['close_connection', pid, 'closed by the reconnect test', '-q'])
}

const Deposit = z.object({ seq: z.number().int() })

describe('RabbitMQ connection recovery (amqplib recovery: true)', () => {
  it('a connection the broker closes is reopened: the consumer resubscribes, the publisher reopens its channel, nothing is applied twice', async () => {
    const schema = 'reconnect_1'
    await consumerSchema(bed, schema)
    const exchange = bed.name('x')
    const topology = await declareConsumerQueue({ connection: bed.connection, queue: bed.name('q'), exchange })
    const connectionName = `annals-reconnect-${randomUUID()}`
    const connection = await amqp.connect(AMQP_URL, {
      recovery: { initialDelay: 50, maxDelay: 500 },
      clientProperties: { connection_name: connectionName },
    })
    connection.on('error', () => undefined)
    const publisher = createRabbitMqPublisher({ connection })
    const consumer = createRabbitMqConsumer({
      connection,
      queue: topology.queue,
      inbox: { pool: bed.db.pool, schema, consumer: 'reconnect' },
      retryBackoff: { initialDelayMs: 10, maxDelayMs: 20 },
      handlers: {
        AccountDeposited: defineRabbitMqHandler(Deposit, async (data, m, tx) => {
          await tx.query(`INSERT INTO ${schema}.applied (message_id, seq) VALUES ($1, $2)`, [m.messageId, data.seq])
        }),
      },
    })
    const message = (seq: number): OutboundMessage => ({
      messageId: randomUUID(),
      topic: exchange,
      partitionKey: 'acct-1',
      type: 'AccountDeposited',
      payload: { seq },
      headers: {},
    })
    // What the outbox relay does with a batch whose publish failed: the rows stay pending and go again.
    const publishUntilConfirmed = async (messages: OutboundMessage[]) => {
      let failures = 0
      await waitFor('a confirmed publish after the reconnect', async () => {
        try {
          await publisher.publish(messages)
          return true
        } catch {
          failures++
          return false
        }
      })
      return failures
    }
    try {
      await consumer.start()
      const before = Array.from({ length: 5 }, (_, i) => message(i))
      await publishUntilConfirmed(before)
      await waitFor('the first five applied', async () => (await appliedCounts(bed, schema)).size === 5)

      await closeOnBroker(connectionName)
      const after = Array.from({ length: 5 }, (_, i) => message(5 + i))
      await publishUntilConfirmed(after)
      await waitFor(
        'the five published after the reconnect',
        async () => (await appliedCounts(bed, schema)).size === 10,
      )

      const applied = await appliedCounts(bed, schema)
      expect([...before, ...after].map((m) => applied.get(m.messageId))).toEqual(Array(10).fill(1))
      // The broker really dropped the connection: the recovering connection announced itself again.
      const { stdout } = await run('rabbitmqctl', ['list_connections', 'client_properties', '-q'])
      expect(stdout).toContain(connectionName)
    } finally {
      await consumer.stop()
      await publisher.close?.()
      await connection.close().catch(() => undefined)
    }
  })
})
