import { Counter, Gauge, type Registry } from 'prom-client'
import type { ProjectionWorker } from './projection-worker.js'
import { reportedState } from './runner-status.js'

/** @internal The counters the loops bump; the gauges read the workers' state at scrape time. */
export type RunnerMetrics = Readonly<{
  processed: Counter<'projection'>
  missedWakeUps: Counter<'projection'>
}>

/** @internal Registers the runner's metrics in `registry`. */
export function createRunnerMetrics(
  registry: Registry,
  workers: readonly ProjectionWorker[],
  workerId: string,
): RunnerMetrics {
  const processed = new Counter({
    name: 'annals_projection_events_processed_total',
    help: 'Events applied to the read model (replays included)',
    labelNames: ['projection'],
    registers: [registry],
  })
  const missedWakeUps = new Counter({
    name: 'annals_projection_missed_wakeups_total',
    help: 'Times polling found new events that no wake-up announced',
    labelNames: ['projection'],
    registers: [registry],
  })
  const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge<string>) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset()
        fill(this)
      },
    })
  gauge('annals_projection_checkpoint_position', 'Global position of the live checkpoint', ['projection'], (g) => {
    for (const w of workers) if (w.live?.checkpoint) g.set({ projection: w.p.name }, Number(w.live.checkpoint.position))
  })
  gauge(
    'annals_projection_fence_held_events',
    'Committed handled events the log fence holds back (an open transaction elsewhere)',
    ['projection'],
    (g) => {
      for (const w of workers) if (w.lease) g.set({ projection: w.p.name }, w.fence?.heldEvents ?? 0)
    },
  )
  // The holder's pid and database as labels: a dashboard or alert names the backend to look at (or to
  // end). One series per held projection, gone when the hold ends, so the labels stay few.
  gauge(
    'annals_projection_fence_holder_age_seconds',
    'Age of the transaction holding the log fence back for a held projection, labelled with its pid and database',
    ['projection', 'pid', 'database', 'application'],
    (g) => {
      for (const w of workers) {
        const h = w.lease ? w.fence?.holder : null
        if (!h) continue
        g.set(
          {
            projection: w.p.name,
            pid: h.pid === null ? 'prepared' : String(h.pid),
            database: h.database ?? '',
            application: h.applicationName,
          },
          Math.max(0, (Date.now() - h.since.getTime()) / 1000),
        )
      }
    },
  )
  gauge('annals_projection_lag_events', 'Handled events committed but not yet applied', ['projection'], (g) => {
    for (const w of workers) if (w.lease) g.set({ projection: w.p.name }, w.lagEvents)
  })
  gauge('annals_projection_lag_seconds', 'Age of the oldest unapplied handled event', ['projection'], (g) => {
    for (const w of workers) if (w.lease) g.set({ projection: w.p.name }, w.lagSeconds)
  })
  gauge('annals_projection_throughput_events_per_second', 'Events applied per second', ['projection'], (g) => {
    for (const w of workers) g.set({ projection: w.p.name }, w.throughput)
  })
  gauge('annals_projection_dead_letters', 'Parked events', ['projection'], (g) => {
    for (const w of workers) if (w.lease) g.set({ projection: w.p.name }, w.deadLetters)
  })
  gauge('annals_projection_state', 'Current state (1 for the active state)', ['projection', 'state'], (g) => {
    for (const w of workers) g.set({ projection: w.p.name, state: reportedState(w) }, 1)
  })
  gauge(
    'annals_projection_owner',
    'Worker holding the lease (1 when this worker owns it)',
    ['projection', 'owner'],
    (g) => {
      for (const w of workers) g.set({ projection: w.p.name, owner: workerId }, w.lease && !w.leaseLost ? 1 : 0)
    },
  )
  gauge(
    'annals_projection_rebuild_events_done',
    'Events applied to the generation being built',
    ['projection'],
    (g) => {
      for (const w of workers) if (w.building) g.set({ projection: w.p.name }, w.building.eventsDone)
    },
  )
  return { processed, missedWakeUps }
}
