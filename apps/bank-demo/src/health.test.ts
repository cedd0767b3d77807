import { describe, expect, it } from 'vitest'
import { checkHealth, outboxCheck, projectionsCheck } from './health.js'

describe('checkHealth', () => {
  it('is ok only when every check resolves, and reports each one by name', async () => {
    const report = await checkHealth([
      { name: 'a', check: async () => ({ count: 3 }) },
      { name: 'b', check: async () => undefined },
    ])
    expect(report.status).toBe('ok')
    expect(report.checks.a).toMatchObject({ status: 'ok', count: 3 })
    expect(report.checks.b).toMatchObject({ status: 'ok' })
  })

  it('fails a check that throws, with its message as the reason', async () => {
    const report = await checkHealth([
      { name: 'ok', check: async () => undefined },
      {
        name: 'broken',
        check: async () => {
          throw new Error('connection refused')
        },
      },
    ])
    expect(report.status).toBe('failing')
    expect(report.checks.broken).toMatchObject({ status: 'failing', reason: 'connection refused' })
    expect(report.checks.ok?.status).toBe('ok')
  })

  it('fails a check that does not answer within the timeout, and aborts it', async () => {
    let aborted = false
    const report = await checkHealth(
      [
        {
          name: 'hung',
          check: (signal) =>
            new Promise(() => {
              signal.addEventListener('abort', () => {
                aborted = true
              })
            }),
        },
      ],
      30,
    )
    expect(report.checks.hung).toMatchObject({ status: 'failing', reason: 'no answer within 30 ms' })
    expect(aborted).toBe(true)
  })
})

describe('projectionsCheck', () => {
  const status = (state: string, lagSeconds = 0, lastError: string | null = null) =>
    ({ name: 'p', state, lagSeconds, lagEvents: 0, lastError }) as never

  it('accepts a standby or briefly held projection and fails a stopped, failing or lagging one', async () => {
    await expect(projectionsCheck(() => [status('standby')]).check(new AbortController().signal)).resolves.toBeDefined()
    await expect(projectionsCheck(() => [status('held', 5)]).check(new AbortController().signal)).resolves.toBeDefined()
    await expect(projectionsCheck(() => [status('stopped')]).check(new AbortController().signal)).rejects.toThrow(
      'p is stopped',
    )
    await expect(
      projectionsCheck(() => [status('error', 0, 'sink down')]).check(new AbortController().signal),
    ).rejects.toThrow('p is error (sink down)')
    await expect(
      projectionsCheck(() => [status('live', 120)], { maxLagSeconds: 60 }).check(new AbortController().signal),
    ).rejects.toThrow('p lags 120 s behind the log (limit 60 s)')
  })
})

describe('outboxCheck', () => {
  it('fails on a dead message or a backlog older than the limit', async () => {
    const check = (dead: number, oldestPendingAgeMs: number | null) =>
      outboxCheck(async () => ({ pending: 1, dead, oldestPendingAgeMs }), { maxPendingAgeMs: 1_000 }).check(
        new AbortController().signal,
      )
    await expect(check(0, 10)).resolves.toEqual({ pending: 1 })
    await expect(check(2, null)).rejects.toThrow('2 dead message(s)')
    await expect(check(0, 5_000)).rejects.toThrow('has waited 5000 ms (limit 1000 ms)')
  })
})
