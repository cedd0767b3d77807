import { type Logger, pino } from 'pino'
import type { Measurement, Skip, System, Unit } from './model.js'
import { nowMs, type Summary, summarize } from './stats.js'

/** Workload sizes: `full` for the committed figures, `quick` for the CI smoke run. */
export type Sizes = Readonly<{
  runs: number
  /** Runs of the long workloads (log read, rebuilds, latency). */
  longRuns: number
  warmup: boolean
  append1Seq: number
  append1C16: number
  /** Appends of 100 events each per run. */
  append100Seq: number
  hotMs: number
  load1kLoads: number
  bigStream: number
  bigStreamLoads: number
  timeTravelReads: number
  logEvents: number
  rebuildEvents: number
  /** Runs of each 1,000,000-event rebuild (one sink takes about a minute per run on 2 cores). */
  rebuildRuns: number
  visibleMs: number
  outboxEvents: number
  redisWrites: number
  searchDocs: number
}>

export const FULL: Sizes = {
  runs: 5,
  longRuns: 3,
  warmup: true,
  append1Seq: 2_000,
  append1C16: 4_000,
  append100Seq: 100,
  hotMs: 2_000,
  load1kLoads: 40,
  bigStream: 100_000,
  bigStreamLoads: 50,
  timeTravelReads: 300,
  logEvents: 100_000,
  rebuildEvents: 1_000_000,
  rebuildRuns: 2,
  visibleMs: 6_000,
  outboxEvents: 20_000,
  redisWrites: 200_000,
  searchDocs: 100_000,
}

export const QUICK: Sizes = {
  runs: 2,
  longRuns: 1,
  warmup: false,
  append1Seq: 50,
  append1C16: 160,
  append100Seq: 4,
  hotMs: 300,
  load1kLoads: 3,
  bigStream: 2_000,
  bigStreamLoads: 5,
  timeTravelReads: 20,
  logEvents: 3_000,
  rebuildEvents: 3_000,
  rebuildRuns: 1,
  visibleMs: 800,
  outboxEvents: 500,
  redisWrites: 2_000,
  searchDocs: 2_000,
}

const started = nowMs()

/** Progress on stderr, prefixed with the elapsed time, so stdout stays the report. */
export function progress(message: string): void {
  const s = Math.round((nowMs() - started) / 1000)
  const stamp = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`
  process.stderr.write(`[bench ${stamp}] ${message}\n`)
}

/** One timed run: how much work was done in how many milliseconds. */
export type RunResult = Readonly<{ count: number; ms: number }>

/** Collects the figures of one bench run. */
export class BenchContext {
  readonly mode: 'quick' | 'full'
  readonly sizes: Sizes
  readonly measurements: Measurement[] = []
  readonly skips: Skip[] = []
  readonly errors: { workload: string; error: string }[] = []
  readonly notes: string[] = []
  /** Statements sent per operation (see `countRoundTrips`), printed as their own table. */
  readonly roundTrips: { op: string; system: System; trips: number }[] = []

  constructor(mode: 'quick' | 'full', overrides: Partial<Record<keyof Sizes, number>> = {}) {
    this.mode = mode
    const base = mode === 'quick' ? QUICK : FULL
    for (const key of Object.keys(overrides)) {
      if (!(key in base)) throw new Error(`--set: unknown size "${key}" (known: ${Object.keys(base).join(', ')})`)
    }
    this.sizes = { ...base, ...overrides, warmup: 'warmup' in overrides ? Boolean(overrides.warmup) : base.warmup }
  }

  record(id: string, system: System, unit: Unit, summary: Summary, note?: string): void {
    this.measurements.push({ id, system, unit, summary, ...(note === undefined ? {} : { note }) })
    const fmt = unit === 'ms' ? summary.median.toFixed(2) : Math.round(summary.median).toLocaleString('en-US')
    progress(`  ${system} ${id}: ${fmt} ${unit}${note ? ` (${note})` : ''}`)
  }

  /** Records how many statements one operation sends. */
  noteRoundTrips(op: string, system: System, trips: number): void {
    this.roundTrips.push({ op, system, trips })
    progress(`  ${system} ${op}: ${trips} round trip(s)`)
  }

  skip(id: string, system: System, reason: string): void {
    this.skips.push({ id, system, reason })
    progress(`  ${system} ${id}: n/a: ${reason}`)
  }

  find(id: string, system: System): Measurement | undefined {
    return this.measurements.find((m) => m.id === id && m.system === system)
  }

  /**
   * Runs `fn` `runs` times (after one untimed warm-up in full mode) and records the median rate
   * (count per second). `fn` gets the run index (-1 for the warm-up) and returns what it did and how long it took.
   */
  async rate(
    id: string,
    system: System,
    unit: 'ev/s' | 'ops/s',
    fn: (run: number) => Promise<RunResult>,
    options: { runs?: number; warmup?: boolean; note?: () => string | undefined } = {},
  ): Promise<Summary> {
    const runs = options.runs ?? this.sizes.runs
    if (options.warmup ?? this.sizes.warmup) await fn(-1)
    const rates: number[] = []
    for (let i = 0; i < runs; i++) {
      const r = await fn(i)
      rates.push((r.count / r.ms) * 1000)
    }
    const summary = summarize(rates)
    this.record(id, system, unit, summary, options.note?.())
    return summary
  }

  /**
   * Measures several systems on the same work in alternating runs (A B, B A, A B…), so that load from
   * other processes and slow drifts (autovacuum, checkpoints, a growing table) hit every side alike and
   * the ratios stay fair. Specs that are null (not available) are left out.
   */
  async paired(specs: readonly (PairSpec | null)[], options: { runs?: number; warmup?: boolean } = {}): Promise<void> {
    const live = specs.filter((s): s is PairSpec => s !== null)
    const runs = options.runs ?? this.sizes.runs
    if (options.warmup ?? this.sizes.warmup) for (const spec of live) await spec.fn(-1)
    const rates = live.map(() => [] as number[])
    for (let i = 0; i < runs; i++) {
      const order = live.map((_, k) => k)
      if (i % 2 === 1) order.reverse()
      for (const k of order) {
        const r = await live[k]!.fn(i)
        rates[k]!.push((r.count / r.ms) * 1000)
      }
    }
    live.forEach((spec, k) => {
      this.record(spec.id, spec.system, spec.unit, summarize(rates[k]!), spec.note?.())
    })
  }
}

/** One side of a paired measurement. */
export type PairSpec = Readonly<{
  id: string
  system: System
  unit: 'ev/s' | 'ops/s'
  fn: (run: number) => Promise<RunResult>
  note?: () => string | undefined
}>

/** Times an async function: the work count it returns and the elapsed milliseconds. */
export async function timed(fn: () => Promise<number>): Promise<RunResult> {
  const t0 = nowMs()
  const count = await fn()
  return { count, ms: nowMs() - t0 }
}

/** Runs `n` tasks with at most `concurrency` in flight; tasks are started in index order. */
export async function parallel(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < n) {
      const i = next++
      await task(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker))
}

/** Library logs (pino) at warn level on stderr, beside the progress, never into the report on stdout. */
export function libraryLogger(): Logger {
  return pino({ level: 'warn' }, pino.destination(2))
}
