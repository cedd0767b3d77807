import { randomUUID } from 'node:crypto'
import { resolve } from 'node:path'
import { migrateOutbox } from '@annals/outbox'
import { migrateSagas } from '@annals/sagas/postgres'
import { migrate } from '@annals/store-postgres'
import { runTs } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { useCliDatabase } from './run-annals.js'

const bin = resolve(import.meta.dirname, '../src/bin.ts')

const annals = (args: readonly string[], env: Record<string, string>) =>
  runTs(bin, { args, env: { ANNALS_LOG_LEVEL: 'silent', ...env }, cwd: import.meta.dirname, timeoutMs: 120_000 })

describe('annals outbox and annals sagas (spawned, real Postgres)', () => {
  const suite = useCliDatabase('annals_cli_ops', async ({ pool }) => {
    await migrate({ pool })
    await migrateOutbox({ pool })
    await migrateSagas({ pool })
  })

  it('shows the outbox backlog and dead messages, and puts a dead message back in line', async () => {
    const dead = randomUUID()
    await suite.db.pool.query(
      `INSERT INTO annals.outbox (message_id, topic, partition_key, type, payload, status, attempts, last_error)
       VALUES ($1, 'orders', 'order-1', 'OrderPlaced', '{}', 'dead', 5, 'broker refused'),
              ($2, 'orders', 'order-1', 'OrderPaid', '{}', 'pending', 0, null)`,
      [dead, randomUUID()],
    )
    const status = await annals(['outbox', 'status', '--json'], suite.env)
    expect(status.stderr).toBe('')
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 1, dead: 1 })
    const list = await annals(['outbox', 'dead'], suite.env)
    expect(list.stdout).toContain(dead)
    expect(list.stdout).toContain('broker refused')
    const retry = await annals(['outbox', 'retry', '--id', dead], suite.env)
    expect(retry.status).toBe(0)
    expect(retry.stdout).toMatch(/^1 dead message/)
    const after = JSON.parse((await annals(['outbox', 'status', '--json'], suite.env)).stdout)
    expect(after).toMatchObject({ pending: 2, dead: 0 })
  }, 240_000)

  it('lists saga instances by status and rejects an unknown status with a usage error', async () => {
    const listed = await annals(['sagas', 'list', '--status', 'running', 'failed', '--json'], suite.env)
    expect(listed.stderr).toBe('')
    const parsed = JSON.parse(listed.stdout) as { counts: Record<string, number>; sagas: unknown[] }
    expect(parsed.sagas).toEqual([])
    expect(parsed.counts).toMatchObject({ running: 0, completed: 0, compensated: 0 })
    const bad = await annals(['sagas', 'list', '--status', 'sleeping'], suite.env)
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('ANNALS_CLI_ERR_USAGE')
    const missing = await annals(['sagas', 'show', 'transfer', 'nope'], suite.env)
    expect(missing.status).toBe(1)
    expect(missing.stderr).toContain('ANNALS_SAGA_ERR_NOT_FOUND')
  }, 240_000)
})
