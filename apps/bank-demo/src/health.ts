import type { ProjectionRuntimeStatus, ProjectionState } from '@annals/projections'
import type { Client } from '@elastic/elasticsearch'

/**
 * One dependency the bank needs, checked on `GET /health`. `check` resolves with details to show
 * (counts, lag) when the dependency is healthy and throws, with the reason as message, when it is not.
 * It gets an abort signal that fires at the check's timeout, for clients that can cancel a request.
 */
export type HealthCheck = Readonly<{
  name: string
  check(signal: AbortSignal): Promise<Readonly<Record<string, unknown>> | undefined>
}>

/** How one check ended. */
export type CheckResult = Readonly<{ status: 'ok' | 'failing'; ms: number; reason?: string; [key: string]: unknown }>

/** What `GET /health` answers: `failing` (HTTP 503) when any check failed or timed out. */
export type HealthReport = Readonly<{ status: 'ok' | 'failing'; checks: Readonly<Record<string, CheckResult>> }>

/** Default time one check may take before it counts as failing. */
export const HEALTH_CHECK_TIMEOUT_MS = 2_000

/** Runs every check at once, each bounded by `timeoutMs`, so one hung dependency cannot hang the probe. */
export async function checkHealth(
  checks: readonly HealthCheck[],
  timeoutMs: number = HEALTH_CHECK_TIMEOUT_MS,
): Promise<HealthReport> {
  const results = await Promise.all(checks.map((c) => runCheck(c, timeoutMs)))
  const byName = Object.fromEntries(checks.map((c, i) => [c.name, results[i] as CheckResult]))
  return { status: results.every((r) => r.status === 'ok') ? 'ok' : 'failing', checks: byName }
}

async function runCheck(check: HealthCheck, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now()
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort()
      reject(new Error(`no answer within ${timeoutMs} ms`))
    }, timeoutMs)
  })
  try {
    const details = await Promise.race([check.check(controller.signal), timedOut])
    return { ...details, status: 'ok', ms: elapsed(started) }
  } catch (error) {
    return { status: 'failing', ms: elapsed(started), reason: error instanceof Error ? error.message : String(error) }
  } finally {
    clearTimeout(timer)
  }
}

const elapsed = (started: number) => Math.round(performance.now() - started)

/** PostgreSQL answers a trivial query (through the app's own pool, so an exhausted pool shows too). */
export function postgresCheck(query: (sql: string) => Promise<unknown>, name = 'postgres'): HealthCheck {
  return {
    name,
    async check() {
      await query('SELECT 1')
      return undefined
    },
  }
}

/** The subset of an ioredis client the Redis check uses. */
export type PingableRedis = Readonly<{ status: string; ping(): Promise<string> }>

/** Redis answers PING. A client that is not connected fails at once with its state, instead of queueing the ping. */
export function redisCheck(redis: PingableRedis): HealthCheck {
  return {
    name: 'redis',
    async check() {
      if (redis.status !== 'ready') throw new Error(`connection is ${redis.status}`)
      await redis.ping()
      return undefined
    },
  }
}

/** The search engine answers and its cluster is not red (red: some data cannot be searched or written). */
export function searchCheck(client: Client): HealthCheck {
  return {
    name: 'search',
    async check(signal) {
      const health = await client.cluster.health({}, { signal, maxRetries: 0 })
      if (health.status === 'red') throw new Error('cluster status is red')
      return { cluster: health.status }
    },
  }
}

/** Limits of {@link projectionsCheck}. */
export type ProjectionsCheckOptions = Readonly<{
  /** A projection whose oldest unprocessed event is older than this is failing. Default 60 s. */
  maxLagSeconds?: number
}>

// Another process holding the lease (standby) is healthy, as is an older version standing by for a
// newer one that keeps the read model (superseded), and a projection held behind the log's fence
// (the lag limit catches one held too long); a stopped or failing loop is not. A Record, so a new
// state must be classed here before this compiles.
const HEALTHY_STATES: Readonly<Record<ProjectionState, boolean>> = {
  starting: true,
  standby: true,
  superseded: true,
  'catching-up': true,
  live: true,
  held: true,
  rebuilding: true,
  error: false,
  stopped: false,
}

/** Every projection of the runner is running (not stopped, not failing) and not lagging too far behind. */
export function projectionsCheck(
  status: () => readonly ProjectionRuntimeStatus[],
  options: ProjectionsCheckOptions = {},
): HealthCheck {
  const maxLagSeconds = options.maxLagSeconds ?? 60
  return {
    name: 'projections',
    async check() {
      const all = status()
      const problems: string[] = []
      for (const p of all) {
        if (!HEALTHY_STATES[p.state]) {
          problems.push(`${p.name} is ${p.state}${p.lastError ? ` (${p.lastError})` : ''}`)
        } else if (p.lagSeconds > maxLagSeconds) {
          problems.push(`${p.name} lags ${p.lagSeconds} s behind the log (limit ${maxLagSeconds} s)`)
        }
      }
      if (problems.length > 0) throw new Error(problems.join('; '))
      return {
        projections: Object.fromEntries(
          all.map((p) => [p.name, { state: p.state, lagEvents: p.lagEvents, lagSeconds: p.lagSeconds }]),
        ),
      }
    },
  }
}

/** The outbox figures the outbox check reads (`getOutboxStatus` of @annals/outbox). */
export type OutboxFigures = Readonly<{ pending: number; dead: number; oldestPendingAgeMs: number | null }>

/** Limits of {@link outboxCheck}. */
export type OutboxCheckOptions = Readonly<{
  /** The relay counts as stuck when a message waits longer than this. Default 30 s. */
  maxPendingAgeMs?: number
}>

/**
 * The outbox relay is moving, read from the outbox table: no message waits longer than
 * `maxPendingAgeMs` (a relay that is down or cannot reach its broker leaves its backlog growing older)
 * and none is dead (a dead message blocks its partition key until it is retried).
 */
export function outboxCheck(status: () => Promise<OutboxFigures>, options: OutboxCheckOptions = {}): HealthCheck {
  const maxPendingAgeMs = options.maxPendingAgeMs ?? 30_000
  return {
    name: 'outbox',
    async check() {
      const figures = await status()
      if (figures.dead > 0) {
        throw new Error(`${figures.dead} dead message(s) block their keys: see \`annals outbox dead\``)
      }
      if (figures.oldestPendingAgeMs !== null && figures.oldestPendingAgeMs > maxPendingAgeMs) {
        throw new Error(
          `the oldest pending message has waited ${figures.oldestPendingAgeMs} ms (limit ${maxPendingAgeMs} ms): is the relay running and its broker reachable?`,
        )
      }
      return { pending: figures.pending }
    },
  }
}
