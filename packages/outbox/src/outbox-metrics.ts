import { Counter, register as defaultRegistry, Gauge, Histogram, type Registry } from 'prom-client'
import { getOutboxStatus, type OutboxLocation } from './outbox-admin.js'

/** Prometheus metrics of one outbox: relay counters plus gauges read from the table at scrape time. */
export type OutboxMetrics = Readonly<{
  published: Counter<'topic'>
  failures: Counter
  dead: Counter
  batchSeconds: Histogram
}>

/** Options of {@link createOutboxMetrics}. */
export type OutboxMetricsOptions = OutboxLocation &
  Readonly<{
    /** Default: prom-client's global registry. */
    registry?: Registry
    /** Metric name prefix. Default `annals_outbox_`. */
    prefix?: string
  }>

/**
 * Registers the outbox metrics: `<prefix>published_total`, `<prefix>publish_failures_total`,
 * `<prefix>dead_total`, `<prefix>batch_seconds`, and the gauges `<prefix>backlog`,
 * `<prefix>oldest_pending_age_seconds`, `<prefix>dead_messages` (queried when scraped). Pass the
 * result to `createOutboxRelay({ metrics })`.
 */
export function createOutboxMetrics(options: OutboxMetricsOptions): OutboxMetrics {
  const registers = [options.registry ?? defaultRegistry]
  const p = options.prefix ?? 'annals_outbox_'
  const location: OutboxLocation = options
  let pending: ReturnType<typeof getOutboxStatus> | undefined
  // One scrape reads the table once for all three gauges.
  const status = () => {
    pending ??= getOutboxStatus(location).finally(() => {
      pending = undefined
    })
    return pending
  }
  new Gauge({
    name: `${p}backlog`,
    help: 'Outbox messages waiting to be published',
    registers,
    async collect() {
      this.set((await status()).pending)
    },
  })
  new Gauge({
    name: `${p}oldest_pending_age_seconds`,
    help: 'Age of the oldest unpublished outbox message',
    registers,
    async collect() {
      this.set(((await status()).oldestPendingAgeMs ?? 0) / 1000)
    },
  })
  new Gauge({
    name: `${p}dead_messages`,
    help: 'Outbox messages that exhausted their attempts',
    registers,
    async collect() {
      this.set((await status()).dead)
    },
  })
  return {
    published: new Counter({
      name: `${p}published_total`,
      help: 'Messages acknowledged by the broker',
      labelNames: ['topic'],
      registers,
    }),
    failures: new Counter({ name: `${p}publish_failures_total`, help: 'Failed publish attempts', registers }),
    dead: new Counter({ name: `${p}dead_total`, help: 'Messages moved to dead', registers }),
    batchSeconds: new Histogram({
      name: `${p}batch_seconds`,
      help: 'Time to claim, publish and mark one batch',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
  }
}
