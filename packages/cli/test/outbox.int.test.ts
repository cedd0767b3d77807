import { randomUUID } from 'node:crypto'
import {
  createRedisStreamsConsumer,
  createRedisStreamsPublisher,
  deadLetterStreamKey,
  migrateOutbox,
  streamKey,
} from '@annals/outbox'
import { REDIS_URL, testRedis, uniqueKeyPrefix } from '@annals/test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { insertOutboxRows } from '../../outbox/test/helpers.js'
import { runAnnals, useCliDatabase } from './run-annals.js'

const suite = useCliDatabase('annals_cli_outbox')

function msg(key: string) {
  return { messageId: randomUUID(), topic: 'orders', partitionKey: key, type: 'X', payload: { key }, headers: {} }
}

async function annals(...args: string[]): Promise<string> {
  const run = await runAnnals(args, suite.env)
  if (run.status !== 0) throw Object.assign(new Error(run.stderr), { code: run.status, stderr: run.stderr })
  return run.stdout
}

// Formerly the tests of `annals-outbox` (packages/outbox/test/admin.int.test.ts).
describe('annals outbox', () => {
  it('status, dead and retry work against a real outbox', async () => {
    const schema = 'cli'
    await migrateOutbox({ pool: suite.db.pool, schema })
    const [a, b, c] = [msg('a'), msg('b'), msg('c')]
    await insertOutboxRows(suite.db.pool, schema, [a, b, c])
    await suite.db.pool.query(
      `UPDATE ${schema}.outbox SET status = 'dead', attempts = 10, last_error = 'Error: refused', dead_at = now()
        WHERE message_id = ANY($1::uuid[])`,
      [[a.messageId, b.messageId]],
    )
    const status = JSON.parse(await annals('outbox', 'status', '--schema', schema, '--json')) as Record<string, unknown>
    expect(status).toMatchObject({ pending: 1, dead: 2, sentRetained: 0 })
    expect(await annals('outbox', 'status', '--schema', schema)).toMatch(
      /^PENDING\s+OLDEST PENDING\s+DEAD\s+SENT \(RETAINED\)\n1\s+\S+\s+2\s+0\n$/,
    )
    const dead = JSON.parse(await annals('outbox', 'dead', '--schema', schema, '--json')) as { messageId: string }[]
    expect(dead.map((d) => d.messageId)).toEqual([a.messageId, b.messageId])
    const first = JSON.parse(await annals('outbox', 'dead', '--schema', schema, '--limit', '1', '--json'))
    expect(first.map((d: { messageId: string }) => d.messageId)).toEqual([a.messageId])
    expect(JSON.parse(await annals('outbox', 'retry', '--schema', schema, '--id', b.messageId, '--json'))).toEqual({
      retried: 1,
    })
    expect(JSON.parse(await annals('outbox', 'status', '--schema', schema, '--json'))).toMatchObject({
      pending: 2,
      dead: 1,
    })
    expect(await annals('outbox', 'retry', '--schema', schema)).toMatch(/^1 dead message\(s\) put back in line/)
    const { rows } = await suite.db.pool.query(`SELECT status, attempts FROM ${schema}.outbox ORDER BY id`)
    expect(rows).toEqual([
      { status: 'pending', attempts: 0 },
      { status: 'pending', attempts: 0 },
      { status: 'pending', attempts: 0 },
    ])
  })

  it('reports a bad schema name with its error code and a non-zero exit', async () => {
    await expect(annals('outbox', 'status', '--schema', 'Bad-Name')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('ANNALS_PG_ERR_INVALID_IDENTIFIER'),
    })
  })

  it('finds prefixed tables with --table-prefix, as migrate names them (and with --prefix, its former name)', async () => {
    await annals('migrate', '--schema', 'cli_p', '--table-prefix', 'p_')
    await suite.db.pool.query(
      `INSERT INTO cli_p.p_outbox (message_id, topic, partition_key, type, payload) VALUES ($1, 'orders', 'k', 'X', '{}')`,
      [randomUUID()],
    )
    for (const option of ['--table-prefix', '--prefix']) {
      const status = JSON.parse(await annals('outbox', 'status', '--schema', 'cli_p', option, 'p_', '--json'))
      expect(status).toMatchObject({ pending: 1, dead: 0 })
    }
    const unprefixed = await runAnnals(['outbox', 'status', '--schema', 'cli_p'], suite.env)
    expect(unprefixed.status).toBe(1)
    expect(unprefixed.stderr).toContain('error ANNALS_CLI_ERR_NOT_MIGRATED')
    const help = await runAnnals(['outbox', 'status', '--help'], suite.env)
    expect(help.stdout).toContain('--table-prefix <prefix>')
    expect(help.stdout).not.toContain('--prefix <prefix>')
  })
})

describe('annals outbox dlq', () => {
  const keyPrefix = uniqueKeyPrefix('cli-dlq')
  let redis: ReturnType<typeof testRedis>
  beforeAll(() => {
    redis = testRedis(keyPrefix)
  })
  afterAll(async () => {
    await redis?.close()
  })

  it("lists a consumer group's dead letters and redrives them once, all or by id", async () => {
    const [a, b] = [msg('a'), msg('b')]
    await createRedisStreamsPublisher({ redis, keyPrefix }).publish([a, b])
    let broken = true
    const handled: string[] = []
    const consumer = createRedisStreamsConsumer({
      redis,
      keyPrefix,
      topic: 'orders',
      group: 'billing',
      consumer: 'billing-1',
      maxDeliveries: 1,
      handle: async (m) => {
        if (broken) throw Object.assign(new Error(`cannot bill ${m.partitionKey}`), { code: 'BILLING_DOWN' })
        handled.push(m.messageId)
      },
    })
    expect(await consumer.runOnce()).toMatchObject({ deadLettered: 2 })
    const env = { ...suite.env, REDIS_URL }
    const where = ['--topic', 'orders', '--group', 'billing', '--key-prefix', keyPrefix]
    const dlq = async (...args: string[]) => {
      const run = await runAnnals(['outbox', 'dlq', ...args, ...where], env)
      if (run.status !== 0) throw Object.assign(new Error(run.stderr), { code: run.status, stderr: run.stderr })
      return run.stdout
    }
    const listed = JSON.parse(await dlq('list', '--json')) as { id: string; messageId: string; errorCode: string }[]
    expect(listed.map((l) => [l.messageId, l.errorCode])).toEqual([
      [a.messageId, 'BILLING_DOWN'],
      [b.messageId, 'BILLING_DOWN'],
    ])
    expect(await dlq('list')).toMatch(/^ID\s+MESSAGE\s+KEY\s+TYPE\s+ENTRY\s+DELIVERIES\s+CODE\s+ERROR\n/)

    broken = false
    expect(JSON.parse(await dlq('redrive', '--id', listed[1]?.id ?? '', '--json'))).toEqual({ redriven: 1 })
    expect(await dlq('redrive')).toBe("1 dead letter(s) redriven; the group's consumers handle them again\n")
    expect(JSON.parse(await dlq('redrive', '--json'))).toEqual({ redriven: 0 })
    expect(await redis.xlen(deadLetterStreamKey(keyPrefix, 'orders', 'billing'))).toBe(0)
    expect(await redis.xlen(streamKey(keyPrefix, 'orders'))).toBe(4)
    expect(await consumer.runOnce()).toMatchObject({ processed: 2, failed: 0 })
    await consumer.stop()
    expect(handled).toEqual([b.messageId, a.messageId])
  })

  it('rejects a malformed --id as a usage error and needs REDIS_URL', async () => {
    const where = ['--topic', 'orders', '--group', 'billing']
    const bad = await runAnnals(['outbox', 'dlq', 'redrive', '--id', 'nope', ...where], { ...suite.env, REDIS_URL })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('ANNALS_CLI_ERR_USAGE')
    const missing = await runAnnals(['outbox', 'dlq', 'list', ...where], suite.env)
    expect(missing.status).toBe(1)
    expect(missing.stderr).toContain('ANNALS_CLI_ERR_MISSING_ENV')
  })
})
