import { randomUUID } from 'node:crypto'
import { migrateOutbox } from '@annals/outbox'
import { describe, expect, it } from 'vitest'
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
