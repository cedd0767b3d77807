import { Counter, Gauge, type Registry } from 'prom-client'
import type { PartitionGroup } from '../partitions/partition-group.js'
import type { ProjectionWorker } from './projection-worker.js'
import { reportedState } from './runner-status.js'

/** @internal The counters the loops bump; the gauges read the workers' state at scrape time. */
export type RunnerMetrics = Readonly<{
  processed: Counter<'projection'>
  missedWakeUps: Counter<'projection'>
  checkpointLost: Counter<'projection'>
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
  // A lost checkpoint is rebuilt from zero without anyone's help, so only a counter tells an operator
  // that the sink (Redis without persistence, say) is losing data.
  const checkpointLost = new Counter({
    name: 'annals_projection_checkpoint_lost_total',
    help: 'Times a generation found its checkpoint gone from the sink (data lost) and was rebuilt from zero',
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
  return { processed, missedWakeUps, checkpointLost }
}

/**
 * @internal Per-partition gauges of the partitioned projections this runner owns partitions of (a
 * series per owned partition: the others' owners report theirs).
 */
export function createPartitionMetrics(registry: Registry, groups: readonly PartitionGroup[]): void {
  const gauge = (name: string, help: string, value: (w: ProjectionWorker) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['projection', 'partition'],
      registers: [registry],
      collect() {
        this.reset()
        for (const g of groups)
          for (const w of g.parts.values()) {
            if (!w.lease || w.leaseLost) continue
            const v = value(w)
            if (v !== null) this.set({ projection: g.p.name, partition: String(w.partition) }, v)
          }
      },
    })
  gauge('annals_projection_partition_owned', 'Partitions this worker owns (1 per owned partition)', () => 1)
  gauge('annals_projection_partition_checkpoint_position', 'Global position of the partition checkpoint', (w) =>
    w.live?.checkpoint ? Number(w.live.checkpoint.position) : null,
  )
  gauge('annals_projection_partition_lag_events', 'Handled events of the partition not yet applied', (w) => w.lagEvents)
  gauge('annals_projection_partition_lag_seconds', 'Age of the partition oldest unapplied event', (w) => w.lagSeconds)
  gauge(
    'annals_projection_partition_events_processed',
    'Events the partition applied in this worker',
    (w) => w.eventsProcessed,
  )
  gauge('annals_projection_partition_rebuild_events_done', 'Events applied to the partition build', (w) =>
    w.building ? w.building.eventsDone : null,
  )
}
