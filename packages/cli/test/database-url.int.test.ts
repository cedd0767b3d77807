import { describe, expect, it } from 'vitest'
import { runAnnals } from './run-annals.js'

describe('a malformed DATABASE_URL', () => {
  it.each([
    [
      'postgres://user:p@ss@host/db',
      'the user name or password contains an unencoded "@"',
      'postgres://user:***@host/db',
    ],
    ['localhost:5432/db', 'it must start with postgres:// or postgresql://', 'localhost:5432/db'],
    ['postgres:/x', '"postgres:" must be followed by "//"', 'postgres:/x'],
  ])('%s fails with a configuration error before any connection attempt', async (url, reason, shown) => {
    const started = Date.now()
    const run = await runAnnals(['outbox', 'status'], { DATABASE_URL: url })
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('error ANNALS_PG_ERR_INVALID_DATABASE_URL')
    expect(run.stderr).toContain(`DATABASE_URL is not a valid PostgreSQL URL: ${reason}`)
    expect(run.stderr).toContain(`(got ${shown})`)
    expect(run.stderr).not.toMatch(/ENOTFOUND|ECONNREFUSED|UNREACHABLE/)
    expect(run.stderr).not.toContain('p@ss')
    expect(Date.now() - started).toBeLessThan(2_000)
  })

  it('checks --database-url the same way', async () => {
    const run = await runAnnals(['--database-url', 'postgres://h:port/db', 'outbox', 'status'], {})
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('the port "port" is not a number from 1 to 65535')
  })
})
