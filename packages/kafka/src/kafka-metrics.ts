import { Counter, register as defaultRegistry, Gauge, type Registry } from 'prom-client'

/** Lag of one consumer group on one partition. */
export type PartitionLag = Readonly<{
  group: string
  topic: string
  partition: number
  /** The group's committed offset (the next record it will read), `null` when it never committed here. */
  committed: bigint | null
  /** Earliest offset still in the log. */
  start: bigint
  /** The partition's end offset (the offset the next record will get). */
  end: bigint
  /** Records written and not yet committed by the group. */
  lag: bigint
}>

/** Something whose lag the gauge reads at scrape time (a running consumer). @internal */
export type LagSource = Readonly<{ group: string; lag(): Promise<readonly PartitionLag[]> }>

/** Prometheus metrics of Kafka consumers. Pass to `createKafkaConsumer({ metrics })`; one set serves many consumers. */
export type KafkaConsumerMetrics = Readonly<{
  consumed: Counter<'group' | 'topic' | 'outcome'>
  deadLettered: Counter<'group' | 'topic' | 'reason'>
  handlerFailures: Counter<'group' | 'topic'>
  /** @internal */
  track(source: LagSource): void
  /** @internal */
  untrack(source: LagSource): void
}>

/** Options of {@link createKafkaConsumerMetrics}. */
export type KafkaConsumerMetricsOptions = Readonly<{
  /** Default: prom-client's global registry. */
  registry?: Registry
  /** Metric name prefix. Default `annals_kafka_`. */
  prefix?: string
}>

/**
 * Registers `<prefix>consumed_total{group,topic,outcome}`, `<prefix>dead_lettered_total{group,topic,reason}`,
 * `<prefix>handler_failures_total{group,topic}` and the gauge `<prefix>consumer_lag{group,topic,partition}`:
 * end offset minus committed offset of every partition a running consumer holds, asked of the broker
 * when scraped (a consumer whose broker does not answer leaves its series out of that scrape).
 */
export function createKafkaConsumerMetrics(options: KafkaConsumerMetricsOptions = {}): KafkaConsumerMetrics {
  const registers = [options.registry ?? defaultRegistry]
  const p = options.prefix ?? 'annals_kafka_'
  const sources = new Set<LagSource>()
  new Gauge({
    name: `${p}consumer_lag`,
    help: 'Records not yet committed by the consumer group, per partition held by a running consumer',
    labelNames: ['group', 'topic', 'partition'],
    registers,
    async collect() {
      this.reset()
      const all = await Promise.all([...sources].map((s) => s.lag().catch(() => [])))
      for (const l of all.flat()) {
        this.set({ group: l.group, topic: l.topic, partition: String(l.partition) }, Number(l.lag))
      }
    },
  })
  return {
    consumed: new Counter({
      name: `${p}consumed_total`,
      help: 'Records handled by Kafka consumers, by outcome',
      labelNames: ['group', 'topic', 'outcome'],
      registers,
    }),
    deadLettered: new Counter({
      name: `${p}dead_lettered_total`,
      help: 'Records written to a dead-letter topic',
      labelNames: ['group', 'topic', 'reason'],
      registers,
    }),
    handlerFailures: new Counter({
      name: `${p}handler_failures_total`,
      help: 'Failed handler attempts',
      labelNames: ['group', 'topic'],
      registers,
    }),
    track: (s) => void sources.add(s),
    untrack: (s) => void sources.delete(s),
  }
}
