import type { Summary } from './stats.js'

/** Who did the work: Annals, the bare driver doing the same work, or the peer library. */
export type System = 'annals' | 'raw' | 'emmett'

/** events per second, operations per second, or milliseconds (latency: lower is better). */
export type Unit = 'ev/s' | 'ops/s' | 'ms'

/** One figure: the median of several runs with their range. */
export type Measurement = Readonly<{
  id: string
  system: System
  unit: Unit
  summary: Summary
  /** Extra facts printed next to the figure (conflict rate, p99, sizes). */
  note?: string
}>

/** A figure that could not be measured, and why. */
export type Skip = Readonly<{ id: string; system: System; reason: string }>

/** A comparison row of the main table: the Annals figure, its raw ceiling and the peer's figure. */
export type Row = Readonly<{
  id: string
  label: string
  unit: Unit
  /** Raw measurement ids whose minimum is this row's ceiling (empty: no ceiling). */
  ceiling: readonly string[]
  /** Whether the peer runs this workload. */
  peer: boolean
}>

/** The main table, in print order. Annals and Emmett record under the row id; raw under its own ids. */
export const ROWS: readonly Row[] = [
  {
    id: 'append.1.seq',
    label: 'Append, 1 event/append, sequential',
    unit: 'ev/s',
    ceiling: ['raw.insert1.seq'],
    peer: true,
  },
  {
    id: 'append.1.c16',
    label: 'Append, 1 event/append, 16 writers',
    unit: 'ev/s',
    ceiling: ['raw.insert1.c16'],
    peer: true,
  },
  {
    id: 'append.100.seq',
    label: 'Append, 100 events/append, sequential',
    unit: 'ev/s',
    ceiling: ['raw.insert100.seq'],
    peer: true,
  },
  {
    id: 'append.1.c16.gc',
    label: 'Append, 1 event/append, 16 writers, group commit on',
    unit: 'ev/s',
    ceiling: ['raw.insert1.c16'],
    peer: false,
  },
  { id: 'append.hot.8', label: 'Hot stream, 8 writers racing (successes/s)', unit: 'ops/s', ceiling: [], peer: true },
  {
    id: 'append.hot.8.p50',
    label: 'Hot stream, 8 writers racing: latency of a successful append (p50 ms)',
    unit: 'ms',
    ceiling: [],
    peer: false,
  },
  {
    id: 'load.1k',
    label: 'Aggregate load, 1,000-event stream (events folded/s)',
    unit: 'ev/s',
    ceiling: ['raw.load1k'],
    peer: true,
  },
  {
    id: 'load.100k.snap',
    label: 'Aggregate load, 100,000-event stream, snapshot every 100 (ms/load)',
    unit: 'ms',
    ceiling: [],
    peer: false,
  },
  {
    id: 'timetravel.p50',
    label: 'Time travel, 100,000-event stream, random past time (p50 ms)',
    unit: 'ms',
    ceiling: [],
    peer: false,
  },
  {
    id: 'timetravel.p99',
    label: 'Time travel, 100,000-event stream, random past time (p99 ms)',
    unit: 'ms',
    ceiling: [],
    peer: false,
  },
  { id: 'log.read', label: 'Global log catch-up read (gap-safe)', unit: 'ev/s', ceiling: ['raw.keyset'], peer: true },
  {
    id: 'rebuild.postgres',
    label: 'Projection rebuild into Postgres',
    unit: 'ev/s',
    ceiling: ['raw.keyset', 'raw.pg.upsert'],
    peer: false,
  },
  {
    id: 'rebuild.redis',
    label: 'Projection rebuild into Redis',
    unit: 'ev/s',
    ceiling: ['raw.keyset', 'raw.redis.hset'],
    peer: false,
  },
  {
    id: 'rebuild.search',
    label: 'Projection rebuild into the search engine',
    unit: 'ev/s',
    ceiling: ['raw.keyset', 'raw.search.bulk'],
    peer: false,
  },
  {
    id: 'visible.p50',
    label: 'Append-to-visible in Redis at 500 appends/s (p50 ms)',
    unit: 'ms',
    ceiling: [],
    peer: false,
  },
  {
    id: 'visible.p99',
    label: 'Append-to-visible in Redis at 500 appends/s (p99 ms)',
    unit: 'ms',
    ceiling: [],
    peer: false,
  },
  {
    id: 'outbox.redis',
    label: 'Outbox relay to Redis Streams',
    unit: 'ev/s',
    ceiling: ['raw.redis.xadd'],
    peer: false,
  },
  {
    id: 'rabbit.relay',
    label: 'Outbox relay to RabbitMQ (publisher confirms)',
    unit: 'ev/s',
    ceiling: ['raw.rabbit.publish'],
    peer: false,
  },
  {
    id: 'rabbit.consume.1',
    label: 'RabbitMQ consumer with the inbox, 1 consumer',
    unit: 'ev/s',
    ceiling: ['raw.rabbit.consume'],
    peer: false,
  },
  {
    id: 'rabbit.consume.2',
    label: 'RabbitMQ consumers with the inbox, 2 consumers',
    unit: 'ev/s',
    ceiling: ['raw.rabbit.consume'],
    peer: false,
  },
  {
    id: 'rabbit.consume.3',
    label: 'RabbitMQ consumers with the inbox, 3 consumers',
    unit: 'ev/s',
    ceiling: ['raw.rabbit.consume'],
    peer: false,
  },
  { id: 'kafka.relay', label: 'Outbox relay to Kafka', unit: 'ev/s', ceiling: ['raw.kafka.produce'], peer: false },
  {
    id: 'kafka.consume.1',
    label: 'Kafka consumer group of 1',
    unit: 'ev/s',
    ceiling: ['raw.kafka.consume'],
    peer: false,
  },
  {
    id: 'kafka.consume.2',
    label: 'Kafka consumer group of 2',
    unit: 'ev/s',
    ceiling: ['raw.kafka.consume'],
    peer: false,
  },
  {
    id: 'kafka.consume.3',
    label: 'Kafka consumer group of 3',
    unit: 'ev/s',
    ceiling: ['raw.kafka.consume'],
    peer: false,
  },
]

/** The raw ceilings, in print order. */
export const RAW_ROWS: readonly Readonly<{ id: string; label: string; unit: Unit }>[] = [
  { id: 'raw.insert1.seq', label: 'pg: single-row INSERT per round trip, sequential', unit: 'ev/s' },
  { id: 'raw.insert1.c16', label: 'pg: single-row INSERT per round trip, 16 connections', unit: 'ev/s' },
  { id: 'raw.insert100.seq', label: 'pg: multi-row INSERT of 100 rows, sequential', unit: 'ev/s' },
  { id: 'raw.keyset', label: 'pg: keyset SELECT, pages of 1,000', unit: 'ev/s' },
  { id: 'raw.load1k', label: 'pg: SELECT one 1,000-row stream + the same fold', unit: 'ev/s' },
  { id: 'raw.pg.upsert', label: 'pg: multi-row upsert of 1,000 read-model rows', unit: 'ev/s' },
  { id: 'raw.redis.hset', label: 'ioredis: pipelined HSET, 1,000 per pipeline', unit: 'ev/s' },
  { id: 'raw.redis.xadd', label: 'ioredis: pipelined XADD, 1,000 per pipeline', unit: 'ev/s' },
  { id: 'raw.search.bulk', label: 'search: bulk index, 1,000 documents per request', unit: 'ev/s' },
  { id: 'raw.rabbit.publish', label: 'amqplib: confirm channel, 1,000 publishes then waitForConfirms', unit: 'ev/s' },
  {
    id: 'raw.rabbit.consume',
    label: 'amqplib: one consume loop, BEGIN/INSERT/COMMIT then ack per message',
    unit: 'ev/s',
  },
  { id: 'raw.kafka.produce', label: 'kafka: idempotent producer, acks=all, 1,000 per send', unit: 'ev/s' },
  { id: 'raw.kafka.consume', label: 'kafka: consumer loop, a Postgres tx per message', unit: 'ev/s' },
]

/** A target: an Annals figure against a ceiling ratio, the peer's figure, or an absolute bound. */
export type Target = Readonly<
  | { id: string; label: string; kind: 'ratio'; row: string; min: number }
  | { id: string; label: string; kind: 'peer'; row: string; min: number }
  | { id: string; label: string; kind: 'max-ms'; row: string; max: number }
  /** A latency at most `factor` times the time one operation of a raw rate row takes (1000 / rate ms). */
  | { id: string; label: string; kind: 'max-of-raw'; row: string; raw: string; factor: number }
>

/** The targets of issue 13, each checked in the same run. */
export const TARGETS: readonly Target[] = [
  {
    id: 't1',
    label: 'Append 1/append sequential vs raw single-row INSERT',
    kind: 'ratio',
    row: 'append.1.seq',
    min: 0.85,
  },
  { id: 't2', label: 'Append 1/append sequential vs Emmett', kind: 'peer', row: 'append.1.seq', min: 1.2 },
  {
    id: 't3',
    label: 'Append 1/append 16 writers vs raw 16-connection INSERT',
    kind: 'ratio',
    row: 'append.1.c16',
    min: 0.9,
  },
  {
    id: 't4',
    label: 'Append 1/append 16 writers, group commit, vs raw 16-connection INSERT',
    kind: 'ratio',
    row: 'append.1.c16.gc',
    min: 1.5,
  },
  { id: 't5', label: 'Append 100/append vs raw multi-row INSERT', kind: 'ratio', row: 'append.100.seq', min: 0.85 },
  { id: 't6', label: 'Hot stream (8 writers) successes/s vs Emmett', kind: 'peer', row: 'append.hot.8', min: 1.0 },
  {
    id: 't7',
    label: 'Hot stream success p50 vs 3x raw commit latency',
    kind: 'max-of-raw',
    row: 'append.hot.8.p50',
    raw: 'raw.insert1.seq',
    factor: 3,
  },
  { id: 't8', label: 'Time travel on the 100,000-event stream, p50', kind: 'max-ms', row: 'timetravel.p50', max: 5 },
  { id: 't9', label: 'Time travel on the 100,000-event stream, p99', kind: 'max-ms', row: 'timetravel.p99', max: 15 },
  { id: 't10', label: 'Append-to-visible p50 at 500 appends/s', kind: 'max-ms', row: 'visible.p50', max: 3 },
  { id: 't11', label: 'Append-to-visible p99 at 500 appends/s', kind: 'max-ms', row: 'visible.p99', max: 10 },
  { id: 't12', label: 'Outbox relay vs raw pipelined XADD', kind: 'ratio', row: 'outbox.redis', min: 0.6 },
  { id: 't13', label: 'Global log read vs raw keyset SELECT', kind: 'ratio', row: 'log.read', min: 0.8 },
  { id: 't14', label: 'Aggregate load 1,000 events vs raw SELECT + fold', kind: 'ratio', row: 'load.1k', min: 0.75 },
  {
    id: 't15',
    label: 'Rebuild into Redis vs slower of (raw keyset read, raw pipelined HSET)',
    kind: 'ratio',
    row: 'rebuild.redis',
    min: 0.5,
  },
  {
    id: 'rabbit-relay',
    label: 'Outbox relay to RabbitMQ vs raw confirmed publish',
    kind: 'ratio',
    row: 'rabbit.relay',
    min: 0.6,
  },
  {
    id: 'rabbit-consume',
    label: 'RabbitMQ consumer (1) vs raw consume loop',
    kind: 'ratio',
    row: 'rabbit.consume.1',
    min: 0.5,
  },
  { id: 't16', label: 'Outbox relay to Kafka vs raw producer (issue 14)', kind: 'ratio', row: 'kafka.relay', min: 0.6 },
  {
    id: 't17',
    label: 'Kafka group of 1 vs raw consumer loop (issue 14)',
    kind: 'ratio',
    row: 'kafka.consume.1',
    min: 0.5,
  },
]
