import { join } from 'node:path'
import { killAllSpawned, REDIS_URL, spawnTs, WORKSPACE_ROOT } from '@annals/test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BankUnderTest, startBank } from './bank-under-test.js'
import { move, openAccount } from './helpers.js'

// `pnpm annals …` at the repository root: the CLI from source, with the demo's own annals.config.ts.
const CLI = join(WORKSPACE_ROOT, 'packages/cli/src/bin.ts')
const CONFIG = join(WORKSPACE_ROOT, 'apps/bank-demo/annals.config.ts')

let bank: BankUnderTest
let env: Record<string, string | undefined>
beforeAll(async () => {
  bank = await startBank('cli')
  env = {
    DATABASE_URL: bank.databaseUrl ?? undefined,
    REDIS_URL,
    BANK_REDIS_PREFIX: bank.redisKeyPrefix ?? undefined,
    ELASTICSEARCH_URL: undefined,
  }
}, 60_000)
afterAll(async () => {
  await killAllSpawned()
  await bank?.close()
})

function annals(...args: string[]) {
  return spawnTs(CLI, { args: ['--config', CONFIG, ...args], env, cwd: WORKSPACE_ROOT })
}

async function run(...args: string[]) {
  const cli = annals(...args)
  const { code } = await cli.exited
  return { code, stdout: cli.stdout(), stderr: cli.stderr() }
}

describe.skipIf(process.env.BANK_TEST_MODE === 'memory')('the annals CLI on the demo', () => {
  it('lists the demo’s Redis and Postgres projections', async () => {
    const listed = await run('projections', 'list', '--json')
    expect(listed.stderr).toBe('')
    const names = (JSON.parse(listed.stdout) as { name: string; sink: string }[]).map((p) => `${p.name}:${p.sink}`)
    expect(names).toEqual(expect.arrayContaining(['account-summaries:redis', 'daily-activity:postgres']))
  }, 60_000)

  it('without DATABASE_URL (the embedded demo), says the CLI needs a PostgreSQL server', async () => {
    const cli = spawnTs(CLI, {
      args: ['--config', CONFIG, 'projections', 'list'],
      env: { DATABASE_URL: undefined },
      cwd: WORKSPACE_ROOT,
    })
    expect((await cli.exited).code).toBe(1)
    expect(cli.stderr()).toContain('error ANNALS_CLI_ERR_MISSING_ENV: DATABASE_URL is not set')
    expect(cli.stderr()).toContain('an embedded PGlite database lives inside its app and cannot be opened from the CLI')
  }, 60_000)

  it('rebuilds the account summaries while the demo answers reads with every account and balance', async () => {
    const { app } = bank
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const id = await openAccount(app, { owner: `Owner ${i}`, currency: 'EUR' })
      for (let k = 1; k <= 20; k++) await move(app, 'deposits', id, 100)
      ids.push(id)
    }
    await bank.projectionsIdle()
    const before = await app.inject({ method: 'GET', url: '/accounts' })
    const expected = (before.json() as { accounts: { accountId: string; balance: number }[] }).accounts
      .filter((a) => ids.includes(a.accountId))
      .map((a) => a.balance)
    expect(expected).toEqual([2_000, 2_000, 2_000, 2_000, 2_000])

    const rebuild = annals('projections', 'rebuild', 'account-summaries', '--no-progress', '--timeout', '50')
    let reads = 0
    let exit: { code: number | null } | null = null
    void rebuild.exited.then((e) => {
      exit = e
    })
    // Readers keep seeing the live generation while the new one is built beside it, then the new one.
    while (!exit) {
      const response = await app.inject({ method: 'GET', url: '/accounts' })
      const balances = (response.json() as { accounts: { accountId: string; balance: number }[] }).accounts
        .filter((a) => ids.includes(a.accountId))
        .map((a) => a.balance)
      expect(balances).toEqual(expected)
      reads++
    }
    expect(rebuild.stderr()).not.toContain('error')
    expect(exit).toEqual(expect.objectContaining({ code: 0 }))
    expect(reads).toBeGreaterThan(0)
    expect(rebuild.stdout()).toContain('account-summaries: generation 2 live')
    const status = await run('projections', 'status', '--json')
    const summaries = (JSON.parse(status.stdout) as { name: string; liveGeneration: number | null }[]).find(
      (p) => p.name === 'account-summaries',
    )
    expect(summaries?.liveGeneration).toBe(2)
  }, 60_000)
})
