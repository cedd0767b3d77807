import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { integerOption } from '@annals/core/runtime'
import { ProjectionInvalidOptionError } from './errors.js'
import type { ProjectionRuntimeStatus, ProjectionState } from './runner/runner-status.js'

/** What the health server reads: a projection runner, or anything with the same `status()`. */
export type HealthSource = Readonly<{ status(): readonly ProjectionRuntimeStatus[] }>

/** Limits beyond which a projection makes the process not ready. */
export type ReadinessLimits = Readonly<{
  /** A projection held behind the log's fence longer than this is stalled. Default 30000. */
  maxStallMs?: number
  /** A projection whose oldest unapplied event is older than this is lagging. Default: no limit. */
  maxLagSeconds?: number
}>

/** Options of {@link startProjectionHealthServer}. */
export type ProjectionHealthServerOptions = ReadinessLimits &
  Readonly<{
    runner: HealthSource
    /** Default 0: a free port (read it from the result). */
    port?: number
    /** Default `0.0.0.0`, so a supervisor on another host (a Kubernetes kubelet) reaches it. */
    host?: string
  }>

/** One projection in a readiness report. */
export type ProjectionReadiness = Readonly<{
  name: string
  state: ProjectionState
  ready: boolean
  /** Why it is not ready (empty when it is). */
  reasons: readonly string[]
  lagEvents: number
  lagSeconds: number
  /** While held behind the log's fence: how many events, and the backend holding them (JSON-safe). */
  fence: Readonly<{
    heldEvents: number
    holder: Readonly<{
      pid: number | null
      database: string | null
      applicationName: string
      state: string
      transactionId: string
      ageMs: number
      query: string
    }> | null
  }> | null
}>

/** The answer of `GET /readyz`: ready when every projection of the process is. */
export type ReadinessReport = Readonly<{ status: 'ready' | 'not-ready'; projections: readonly ProjectionReadiness[] }>

/** A running health server. */
export type ProjectionHealthServer = Readonly<{
  /** e.g. `http://127.0.0.1:41234` (the host as bound; `0.0.0.0` is shown as 127.0.0.1). */
  url: string
  port: number
  close(): Promise<void>
}>

// Another worker owns it (standby), or a newer version does (superseded): this process serves nothing
// for it, and that is a healthy state. A rebuild keeps the live generation serving.
const READY_STATES: Readonly<Record<ProjectionState, boolean>> = {
  starting: false,
  standby: true,
  superseded: true,
  'catching-up': false,
  live: true,
  held: true,
  rebuilding: true,
  error: false,
  stopped: false,
}

const positiveInt = (name: string, value: number | undefined, fallback: number) =>
  integerOption(name, value, fallback, 1, (option, reason) => new ProjectionInvalidOptionError(option, reason))

/** Classes each projection of a runner's status as ready or not, with the reasons (lag, stall, state). */
export function projectionReadiness(
  status: readonly ProjectionRuntimeStatus[],
  limits: ReadinessLimits = {},
  now = Date.now(),
): ReadinessReport {
  const maxStallMs = positiveInt('maxStallMs', limits.maxStallMs, 30_000)
  const maxLagSeconds = limits.maxLagSeconds ?? Number.POSITIVE_INFINITY
  if (!(maxLagSeconds > 0)) throw new ProjectionInvalidOptionError('maxLagSeconds', 'must be a positive number')
  const projections = status.map((s): ProjectionReadiness => {
    const reasons: string[] = []
    if (!READY_STATES[s.state]) reasons.push(`${s.state}${s.lastError ? `: ${s.lastError}` : ''}`)
    const h = s.fence?.holder ?? null
    if (s.state === 'held' && s.lagSeconds * 1000 > maxStallMs) {
      const by = h
        ? `pid ${h.pid ?? '(prepared)'} in database ${h.database ?? '(none)'} (${h.state}, transaction ${h.transactionId})`
        : 'a transaction that has ended since'
      reasons.push(`stalled ${Math.round(s.lagSeconds)} s behind the log's fence, held by ${by}`)
    } else if (s.lagSeconds > maxLagSeconds) {
      reasons.push(`lags ${s.lagSeconds} s behind the log (limit ${maxLagSeconds} s)`)
    }
    return {
      name: s.name,
      state: s.state,
      ready: reasons.length === 0,
      reasons,
      lagEvents: s.lagEvents,
      lagSeconds: s.lagSeconds,
      fence: s.fence
        ? {
            heldEvents: s.fence.heldEvents,
            holder: h
              ? {
                  pid: h.pid,
                  database: h.database,
                  applicationName: h.applicationName,
                  state: h.state,
                  transactionId: h.transactionId.toString(),
                  ageMs: Math.max(0, now - h.since.getTime()),
                  query: h.query,
                }
              : null,
          }
        : null,
    }
  })
  return { status: projections.every((p) => p.ready) ? 'ready' : 'not-ready', projections }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
  res.end(text)
}

/**
 * Starts a small HTTP server for a process supervisor: `GET /healthz` (liveness: 200 while the
 * process answers and its runner is not stopped) and `GET /readyz` (readiness: 200 when every projection
 * is ready, else 503; JSON with each one's lag and the reasons, a stall naming the backend that holds
 * the log's fence).
 * @example const health = await startProjectionHealthServer({ runner, port: 9464 })
 */
export async function startProjectionHealthServer(
  options: ProjectionHealthServerOptions,
): Promise<ProjectionHealthServer> {
  const { runner } = options
  // Checked now, so a bad option fails at start rather than on the first probe.
  projectionReadiness([], options)
  const port = integerOption('port', options.port, 0, 0, (o, r) => new ProjectionInvalidOptionError(o, r))
  if (port > 65_535) throw new ProjectionInvalidOptionError('port', 'must be an integer from 0 to 65535')
  const host = options.host ?? '0.0.0.0'
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'use GET' })
    try {
      if (path === '/healthz') {
        const status = runner.status()
        const stopped = status.length > 0 && status.every((s) => s.state === 'stopped')
        return send(res, stopped ? 503 : 200, { status: stopped ? 'stopped' : 'ok' })
      }
      if (path === '/readyz') {
        const report = projectionReadiness(runner.status(), options)
        return send(res, report.status === 'ready' ? 200 : 503, report)
      }
      return send(res, 404, { error: `no route ${path}; try /healthz or /readyz` })
    } catch (error) {
      return send(res, 500, { error: (error as Error).message })
    }
  })
  // A supervisor's probe must not keep a stopping process alive.
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = (server.address() as AddressInfo).port
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  return {
    url: `http://${shown}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      }),
  }
}
