import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BankUnderTest, startBank } from './bank-under-test.js'

const MEMORY = process.env.BANK_TEST_MODE === 'memory'

type Health = {
  status: string
  mode: string
  checks: Record<string, { status: string; reason?: string; ms: number }>
}

describe.skipIf(MEMORY)('GET /health on the real servers', () => {
  let bank: BankUnderTest
  beforeAll(async () => {
    bank = await startBank('health')
    await bank.projectionsIdle()
  })
  afterAll(async () => {
    await bank?.close()
  })

  it('answers 200 with every dependency checked while they all work', async () => {
    const response = await bank.app.inject({ url: '/health' })
    expect(response.statusCode, response.body).toBe(200)
    const health = response.json() as Health
    expect(health.status).toBe('ok')
    const expected = [
      'postgres',
      'redis',
      'projections',
      'outbox',
      ...(process.env.ELASTICSEARCH_URL ? ['search'] : []),
    ]
    expect(Object.keys(health.checks).sort()).toEqual(expected.sort())
    for (const check of Object.values(health.checks)) expect(check.status).toBe('ok')
  })

  it('answers 503 naming the projections once the runner has stopped', async () => {
    await bank.readSide.stop()
    const response = await bank.app.inject({ url: '/health' })
    expect(response.statusCode, response.body).toBe(503)
    const health = response.json() as Health
    expect(health.status).toBe('failing')
    expect(health.checks.projections).toMatchObject({ status: 'failing' })
    expect(health.checks.projections?.reason).toMatch(/account-summaries is stopped/)
    expect(health.checks.postgres?.status).toBe('ok')
    expect(health.mode).toMatch(/^servers:/)
  })
})

describe.skipIf(MEMORY)('GET /health with Redis down', () => {
  let bank: BankUnderTest
  beforeAll(async () => {
    // Nothing listens on port 1: the client keeps reconnecting.
    bank = await startBank('health_redis_down', { redisUrl: 'redis://127.0.0.1:1' })
  })
  afterAll(async () => {
    await bank?.close()
  })

  it('answers 503 with the Redis check failing and Postgres still fine, within the check timeout', async () => {
    const started = Date.now()
    const response = await bank.app.inject({ url: '/health' })
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(response.statusCode, response.body).toBe(503)
    const health = response.json() as Health
    expect(health.checks.redis).toMatchObject({ status: 'failing' })
    expect(health.checks.redis?.reason).toMatch(/connection is (connecting|reconnecting|close)/)
    expect(health.checks.postgres?.status).toBe('ok')
  })
})
