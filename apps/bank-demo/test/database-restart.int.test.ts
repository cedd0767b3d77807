import { streamKey } from '@annals/outbox'
import { startThrowawayPostgres, type ThrowawayPostgres } from '@annals/store-postgres/testing'
import { deleteKeys, REDIS_URL, type SpawnedProcess, spawnTs, uniqueKeyPrefix, waitFor } from '@annals/test-support'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TRANSACTIONS_TOPIC } from '../src/postgres-write-side.js'

// The demo process against a Postgres of its own, crashed (`pg_ctl restart -m immediate`) under it:
// every connection of the pool, the log watcher's LISTEN session, the projection runner's and the
// relay's sessions die at once, and the process must come back by itself, without exiting.
let server: ThrowawayPostgres
let demo: SpawnedProcess
let redis: Redis
const keyPrefix = uniqueKeyPrefix('bank-restart')
const port = 3900 + Math.floor(Math.random() * 90)
const base = `http://127.0.0.1:${port}`

beforeAll(async () => {
  // Durable commits: an acknowledged deposit must survive the crash (with synchronous_commit off the
  // server would lose the last ones it acknowledged, and the test would blame the store).
  server = await startThrowawayPostgres({ durableCommits: true })
  redis = new Redis(REDIS_URL)
  demo = spawnTs(new URL('../src/main.ts', import.meta.url).pathname, {
    env: {
      DATABASE_URL: server.connectionString,
      REDIS_URL,
      ELASTICSEARCH_URL: undefined,
      AMQP_URL: undefined,
      KAFKA_BROKERS: undefined,
      BANK_REDIS_PREFIX: keyPrefix,
      SEED_DAYS: '1',
      PORT: String(port),
      LOG_LEVEL: 'info',
    },
  })
  await waitFor('the demo to open', async () => demo.stdout().includes('The bank is open'), { timeoutMs: 120_000 })
}, 180_000)

afterAll(async () => {
  await demo?.kill()
  await server?.stop()
  if (redis) {
    await deleteKeys(redis, keyPrefix)
    redis.disconnect()
  }
})

type Movement = { eventId: string; balance: number; version: string }

async function deposit(accountId: string, amount: number): Promise<Response> {
  return fetch(`${base}/accounts/${accountId}/deposits`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ amount, description: 'after the crash' }),
  })
}

describe('bank demo across a database crash (spawned demo, private Postgres)', () => {
  it('keeps serving: the first deposit after the restart succeeds, the read model and the outbox stream catch up, the process never exits', async () => {
    const accountId = /account=([\w-]+)/.exec(demo.stdout())?.[1]
    expect(accountId).toBeDefined()
    const id = accountId as string
    const first = await deposit(id, 100)
    expect(first.status).toBe(201)
    const before = (await first.json()) as Movement
    const stream = streamKey(`${keyPrefix}outbox`, TRANSACTIONS_TOPIC)
    const published = async (eventId: string) =>
      (await redis.xrange(stream, '-', '+')).some(([, fields]) => fields.some((f) => f.includes(eventId)))
    await waitFor('the relay before the restart', async () => published(before.eventId), 30_000)

    await server.restart('immediate')

    // Sessions the crash cut fail their next statement; the pool replaces them. A client retries a
    // 5xx (what the demo answers while the server recovers), as any HTTP client of a bank would.
    let after: Movement | undefined
    await waitFor(
      'a deposit accepted after the restart',
      async () => {
        const r = await deposit(id, 7).catch(() => null)
        if (r?.status === 201) after = (await r.json()) as Movement
        return after !== undefined
      },
      { timeoutMs: 60_000, everyMs: 250 },
    )
    const done = after as Movement
    // The acknowledged deposit before the crash is kept: the new one lands on top of it.
    expect(BigInt(done.version)).toBe(BigInt(before.version) + 1n)
    expect(done.balance).toBe(before.balance + 7)

    // The projection runner reconnected: the Redis read model shows the new balance.
    await waitFor(
      'the read model after the restart',
      async () => {
        const r = await fetch(`${base}/accounts/${id}`)
        return r.status === 200 && ((await r.json()) as { balance: number }).balance === done.balance
      },
      { timeoutMs: 60_000 },
    )
    // The relay reconnected: the deposit's event reached the outbox stream.
    await waitFor('the relay after the restart', async () => published(done.eventId), 60_000)
    expect(demo.child.exitCode).toBeNull()
    // It said what happened, in a structured line, and did not crash.
    expect(demo.output()).toMatch(/PostgreSQL|connection/i)
  }, 240_000)
})
