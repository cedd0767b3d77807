import { resolve } from 'node:path'
import { createPostgresEventStore, migrate } from '@annals/store-postgres'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import { runTs } from '@annals/test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AccountEvent } from '../test/accounts.js'
import { createTestEngine, ELASTICSEARCH_URL } from '../test/support.js'
import { aliasName, generationIndexName } from './names.js'

// The `annals` CLI of @annals/cli, spawned from its sources with the fixture config of this package.
const bin = resolve(import.meta.dirname, '../../cli/src/bin.ts')
const config = resolve(import.meta.dirname, '../test/fixtures/annals.config.ts')

const annals = (args: readonly string[], env: Record<string, string>) =>
  runTs(bin, { args, env: { ANNALS_LOG_LEVEL: 'silent', ...env }, timeoutMs: 90_000 })

describe('annals projections rebuild/status with an Elasticsearch projection (spawned CLI)', () => {
  let db: TestDatabase
  let engine: Awaited<ReturnType<typeof createTestEngine>>
  let env: Record<string, string>
  beforeAll(async () => {
    db = await createTestDatabase('annals_es_cli')
    engine = await createTestEngine()
    await migrate({ pool: db.pool })
    const store = createPostgresEventStore({ pool: db.pool })
    for (let i = 0; i < 30; i++) {
      await store.appendToStream<AccountEvent>(`acc-${i}`, [
        { type: 'Opened', data: { owner: `o${i}` } },
        { type: 'Deposited', data: { amount: i } },
      ])
    }
    env = { DATABASE_URL: db.connectionString, ELASTICSEARCH_URL, ANNALS_TEST_INDEX_PREFIX: engine.indexPrefix }
  })
  afterAll(async () => {
    await engine?.cleanup()
    await db?.drop()
  })

  it('builds, rebuilds blue/green and reports the generation like any projection', async () => {
    const alias = aliasName(engine.indexPrefix, 'cli_accounts')
    const first = await annals(['projections', 'rebuild', 'cli_accounts', '-c', config, '--no-progress'], env)
    expect(first.stderr.trim()).toBe('')
    expect(first.status).toBe(0)
    expect(first.stdout).toMatch(/cli_accounts: generation 1 live/)
    await engine.client.indices.refresh({ index: alias })
    expect((await engine.client.count({ index: alias })).count).toBe(30)

    const second = await annals(['projections', 'rebuild', 'cli_accounts', '-c', config, '--no-progress'], env)
    expect(second.status).toBe(0)
    expect(second.stdout).toMatch(/cli_accounts: generation 2 live/)
    expect(Object.keys(await engine.client.indices.getAlias({ name: alias }))).toEqual([
      generationIndexName(engine.indexPrefix, 'cli_accounts', 2),
    ])
    expect(
      await engine.client.indices.exists({ index: generationIndexName(engine.indexPrefix, 'cli_accounts', 1) }),
    ).toBe(false)
    expect((await engine.client.count({ index: alias })).count).toBe(30)

    const status = await annals(['projections', 'status', '-c', config], env)
    expect(status.status).toBe(0)
    expect(status.stdout).toMatch(/cli_accounts\s+\S+\s+2\s+1/)
  })
})
