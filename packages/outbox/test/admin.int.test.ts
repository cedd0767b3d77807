import { randomUUID } from 'node:crypto'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { migrateOutbox } from '../src/migrate-outbox.js'
import { createOutboxMetrics } from '../src/outbox-metrics.js'
import { createRedisStreamsPublisher } from '../src/redis-streams-publisher.js'
import { createOutboxRelay } from '../src/relay/outbox-relay.js'
import { insertOutboxRows, useTestbed } from './helpers.js'

const bed = useTestbed('admin')

function msg(key: string) {
  return { messageId: randomUUID(), topic: 'orders', partitionKey: key, type: 'X', payload: { key }, headers: {} }
}

describe('relay state', () => {
  it('exposes backlog, oldest pending age, dead count and relay counters as Prometheus metrics', async () => {
    const schema = 'metrics'
    await migrateOutbox({ pool: bed.db.pool, schema })
    const registry = new Registry()
    const metrics = createOutboxMetrics({ pool: bed.db.pool, schema, registry })
    await insertOutboxRows(bed.db.pool, schema, [msg('a'), msg('b'), msg('c')])
    await bed.db.pool.query(`UPDATE ${schema}.outbox SET created_at = now() - interval '90 seconds'`)
    let text = await registry.metrics()
    expect(text).toMatch(/^annals_outbox_backlog 3$/m)
    expect(text).toMatch(/^annals_outbox_dead_messages 0$/m)
    const age = Number(/^annals_outbox_oldest_pending_age_seconds ([\d.]+)$/m.exec(text)?.[1])
    expect(age).toBeGreaterThanOrEqual(89)

    const relay = createOutboxRelay({
      pool: bed.db.pool,
      schema,
      publisher: createRedisStreamsPublisher({ redis: bed.redis, keyPrefix: `${bed.keyPrefix}:metrics` }),
      metrics,
      logger: pino({ level: 'silent' }),
    })
    await relay.runOnce()
    text = await registry.metrics()
    expect(text).toMatch(/^annals_outbox_backlog 0$/m)
    expect(text).toMatch(/^annals_outbox_oldest_pending_age_seconds 0$/m)
    expect(text).toMatch(/^annals_outbox_published_total\{topic="orders"\} 3$/m)
    expect(text).toMatch(/^annals_outbox_batch_seconds_count 1$/m)
  })
})
