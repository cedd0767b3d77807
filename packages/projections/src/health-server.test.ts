import { describe, expect, it } from 'vitest'
import { projectionReadiness } from './health-server.js'
import type { ProjectionRuntimeStatus } from './runner/runner-status.js'

const base: ProjectionRuntimeStatus = {
  name: 'p',
  version: 1,
  state: 'live',
  supersededBy: null,
  owner: 'w',
  token: 1n,
  liveGeneration: 1,
  checkpoint: null,
  building: null,
  eventsProcessed: 0,
  throughput: 0,
  lagEvents: 0,
  lagSeconds: 0,
  fence: null,
  deadLetters: 0,
  lastError: null,
}
const with_ = (patch: Partial<ProjectionRuntimeStatus>) => ({ ...base, ...patch })

describe('projectionReadiness', () => {
  it('counts live, held (briefly), standby, superseded and rebuilding as ready', () => {
    const states = ['live', 'standby', 'superseded', 'rebuilding'] as const
    const report = projectionReadiness([
      ...states.map((state) => with_({ state })),
      with_({ state: 'held', lagSeconds: 1 }),
    ])
    expect(report.status).toBe('ready')
  })

  it('names the failing state with its last error, and a lag over the limit', () => {
    const report = projectionReadiness(
      [
        with_({ name: 'a', state: 'error', lastError: 'sink down' }),
        with_({ name: 'b', lagSeconds: 12 }),
        with_({ name: 'c', state: 'starting' }),
      ],
      { maxLagSeconds: 10 },
    )
    expect(report.status).toBe('not-ready')
    expect(report.projections.map((p) => p.reasons)).toEqual([
      ['error: sink down'],
      ['lags 12 s behind the log (limit 10 s)'],
      ['starting'],
    ])
  })

  it('calls a hold longer than maxStallMs a stall, naming the holder', () => {
    const since = new Date(Date.now() - 60_000)
    const holder = {
      pid: 42,
      transactionId: 2n ** 60n,
      since,
      applicationName: 'psql',
      database: 'other',
      state: 'idle in transaction',
      query: 'BEGIN',
    }
    const report = projectionReadiness([with_({ state: 'held', lagSeconds: 45, fence: { heldEvents: 3, holder } })], {
      maxStallMs: 30_000,
    })
    expect(report.projections[0]).toMatchObject({
      ready: false,
      reasons: [
        `stalled 45 s behind the log's fence, held by pid 42 in database other (idle in transaction, transaction ${2n ** 60n})`,
      ],
      fence: {
        heldEvents: 3,
        holder: { pid: 42, transactionId: (2n ** 60n).toString(), database: 'other', query: 'BEGIN' },
      },
    })
    expect(JSON.stringify(report)).toContain('"transactionId":"1152921504606846976"')
  })

  it('refuses limits that are not positive', () => {
    expect(() => projectionReadiness([], { maxStallMs: 0 })).toThrow(/maxStallMs/)
    expect(() => projectionReadiness([], { maxLagSeconds: -1 })).toThrow(/maxLagSeconds/)
  })
})
