import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { migrateOutbox } from '../src/migrate-outbox.js'
import { createOutboxMetrics } from '../src/outbox-metrics.js'
import { createRedisStreamsPublisher } from '../src/redis-streams-publisher.js'
import { createOutboxRelay } from '../src/relay/outbox-relay.js'
import { insertOutboxRows, useTestbed } from './helpers.js'

const run = promisify(execFile)
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url))
const bed = useTestbed('admin')

function msg(key: string) {
  return { messageId: randomUUID(), topic: 'orders', partitionKey: key, type: 'X', payload: { key }, headers: {} }
}

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--conditions=@annals/source', '--import', 'tsx', bin, ...args], {
    env: { ...process.env, DATABASE_URL: bed.db.connectionString },
  })
  return stdout
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

  it('annals-outbox status, dead and retry work against a real outbox', async () => {
    const schema = 'cli'
    await migrateOutbox({ pool: bed.db.pool, schema })
    const [a, b, c] = [msg('a'), msg('b'), msg('c')]
    await insertOutboxRows(bed.db.pool, schema, [a, b, c])
    await bed.db.pool.query(
      `UPDATE ${schema}.outbox SET status = 'dead', attempts = 10, last_error = 'Error: refused', dead_at = now()
        WHERE message_id = ANY($1::uuid[])`,
      [[a.messageId, b.messageId]],
    )
    const status = JSON.parse(await cli('status', '--schema', schema, '--json')) as Record<string, unknown>
    expect(status).toMatchObject({ pending: 1, dead: 2, sentRetained: 0 })
    expect(await cli('status', '--schema', schema)).toMatch(/pending: 1\n.*\ndead: 2/)
    const dead = JSON.parse(await cli('dead', '--schema', schema, '--json')) as { messageId: string }[]
    expect(dead.map((d) => d.messageId)).toEqual([a.messageId, b.messageId])
    expect(await cli('retry', '--schema', schema, '--id', b.messageId)).toBe('retried: 1\n')
    expect(JSON.parse(await cli('status', '--schema', schema, '--json'))).toMatchObject({ pending: 2, dead: 1 })
    expect(await cli('retry', '--schema', schema)).toBe('retried: 1\n')
    const { rows } = await bed.db.pool.query(`SELECT status, attempts FROM ${schema}.outbox ORDER BY id`)
    expect(rows).toEqual([
      { status: 'pending', attempts: 0 },
      { status: 'pending', attempts: 0 },
      { status: 'pending', attempts: 0 },
    ])
  })

  it('annals-outbox reports a bad schema name with its error code and a non-zero exit', async () => {
    await expect(cli('status', '--schema', 'Bad-Name')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('ANNALS_PG_ERR_INVALID_IDENTIFIER'),
    })
  })
})
