import type { BenchContext } from './context.js'
import { type Measurement, RAW_ROWS, ROWS, type System, TARGETS, type Unit } from './model.js'

function num(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return '—'
  if (unit === 'ms') return value < 10 ? value.toFixed(2) : value.toFixed(1)
  return Math.round(value).toLocaleString('en-US')
}

/** "12,345 (11,900–12,800)" — median and range of the runs. */
function figure(m: Measurement | undefined): string {
  if (!m) return '—'
  const { median, min, max, runs } = m.summary
  const range = runs.length > 1 ? ` (${num(min, m.unit)}–${num(max, m.unit)})` : ''
  return `${num(median, m.unit)}${range}`
}

/** Ratio of two figures, inverted for latencies so that > 1 always means "Annals is better". */
function ratio(a: Measurement | undefined, b: Measurement | undefined): number | undefined {
  if (!a || !b || b.summary.median === 0) return undefined
  return a.unit === 'ms' ? b.summary.median / a.summary.median : a.summary.median / b.summary.median
}

function ratioText(r: number | undefined): string {
  return r === undefined ? '—' : `${r.toFixed(2)}×`
}

/** The slowest of the raw figures a row is compared with (a pipeline runs at its slowest stage). */
function ceilingOf(ctx: BenchContext, ids: readonly string[]): Measurement | undefined {
  let worst: Measurement | undefined
  for (const id of ids) {
    const m = ctx.find(id, 'raw')
    if (!m) return undefined
    if (!worst || m.summary.median < worst.summary.median) worst = m
  }
  return worst
}

function skipReason(ctx: BenchContext, id: string, system: System): string | undefined {
  return ctx.skips.find((s) => s.id === id && s.system === system)?.reason
}

function cell(ctx: BenchContext, id: string, system: System): string {
  const m = ctx.find(id, system)
  if (m) return figure(m) + (m.note ? ` — ${m.note}` : '')
  const reason = skipReason(ctx, id, system)
  return reason ? `n/a: ${reason}` : '—'
}

/** Machine facts printed at the head of the report. */
export type Machine = Readonly<{
  date: string
  cpus: string
  memory: string
  os: string
  node: string
  postgres: string
  redis: string
  search: string
  mode: string
  command: string
  durationS: number
  /** 1-minute load average at the start and at the end of the run (other processes compete on small machines). */
  load: string
}>

/** Pads every markdown table's columns the way the repository's formatter (biome) does. */
export function alignTables(markdown: string): string {
  const lines = markdown.split('\n')
  const out: string[] = []
  for (let i = 0; i < lines.length; ) {
    if (!lines[i]!.startsWith('|')) {
      out.push(lines[i]!)
      i++
      continue
    }
    const block: string[][] = []
    while (i < lines.length && lines[i]!.startsWith('|')) {
      block.push(
        lines[i]!.slice(1, -1)
          .split('|')
          .map((c) => c.trim()),
      )
      i++
    }
    const widths: number[] = []
    block.forEach((row, r) => {
      if (r === 1) return
      row.forEach((c, k) => {
        widths[k] = Math.max(widths[k] ?? 3, [...c].length)
      })
    })
    block.forEach((row, r) => {
      const cells = row.map((c, k) => (r === 1 ? '-'.repeat(widths[k]!) : c + ' '.repeat(widths[k]! - [...c].length)))
      out.push(`| ${cells.join(' | ')} |`)
    })
  }
  return out.join('\n')
}

/** The report as markdown (printed to stdout and written to the results file). */
export function renderReport(ctx: BenchContext, machine: Machine): string {
  const out: string[] = []
  out.push(`# Annals benchmark results (${machine.mode})`)
  out.push('')
  out.push(`- Date: ${machine.date} (run took ${Math.round(machine.durationS)} s)`)
  out.push(`- Command: \`${machine.command}\``)
  out.push(`- Machine: ${machine.cpus}, ${machine.memory} RAM, ${machine.os}`)
  out.push(`- Load average (1 min) at start / end: ${machine.load}`)
  out.push(`- Node ${machine.node}; PostgreSQL ${machine.postgres}; Redis ${machine.redis}; search: ${machine.search}`)
  out.push(
    `- Each figure: median of ${ctx.sizes.runs} runs (long workloads: ${ctx.sizes.longRuns}) with min–max${ctx.sizes.warmup ? ', after one untimed warm-up run' : ''}. Ratios > 1 mean Annals is faster (for latencies: lower).`,
  )
  out.push('')
  out.push('## Targets')
  out.push('')
  out.push('| Target | Required | Measured | Result |')
  out.push('|---|---|---|---|')
  for (const t of TARGETS) {
    const m = ctx.find(t.row, 'annals')
    if (t.kind === 'ratio') {
      const row = ROWS.find((r) => r.id === t.row)!
      const ceiling = ceilingOf(ctx, row.ceiling)
      const r = m && ceiling ? m.summary.median / ceiling.summary.median : undefined
      const result =
        r === undefined
          ? `n/a${m ? '' : `: ${skipReason(ctx, t.row, 'annals') ?? 'not measured'}`}`
          : r >= t.min
            ? 'PASS'
            : 'MISS'
      out.push(`| ${t.label} | ≥ ${t.min.toFixed(2)}× | ${ratioText(r)} | ${result} |`)
    } else if (t.kind === 'peer') {
      const peer = ctx.find(t.row, 'emmett')
      const r = m && peer ? m.summary.median / peer.summary.median : undefined
      const result = r === undefined ? 'n/a: not measured' : r >= t.min ? 'PASS' : 'MISS'
      out.push(`| ${t.label} | ≥ ${t.min.toFixed(2)}× | ${ratioText(r)} | ${result} |`)
    } else if (t.kind === 'max-of-raw') {
      const raw = ctx.find(t.raw, 'raw')
      const bound = raw ? (t.factor * 1000) / raw.summary.median : undefined
      const v = m?.summary.median
      const result = v === undefined || bound === undefined ? 'n/a: not measured' : v <= bound ? 'PASS' : 'MISS'
      const required = bound === undefined ? `≤ ${t.factor}× raw` : `≤ ${num(bound, 'ms')} ms`
      out.push(`| ${t.label} | ${required} | ${v === undefined ? '—' : `${num(v, 'ms')} ms`} | ${result} |`)
    } else {
      const v = m?.summary.median
      const result =
        v === undefined ? `n/a: ${skipReason(ctx, t.row, 'annals') ?? 'not measured'}` : v <= t.max ? 'PASS' : 'MISS'
      out.push(`| ${t.label} | ≤ ${t.max} ms | ${v === undefined ? '—' : `${num(v, 'ms')} ms`} | ${result} |`)
    }
  }
  out.push('')
  out.push('## Side by side')
  out.push('')
  out.push('| Workload | Unit | Annals | Raw ceiling | Annals / ceiling | Emmett (peer) | Annals / Emmett |')
  out.push('|---|---|---|---|---|---|---|')
  for (const row of ROWS) {
    const a = ctx.find(row.id, 'annals')
    const ceiling = row.ceiling.length ? ceilingOf(ctx, row.ceiling) : undefined
    const peer = row.peer ? ctx.find(row.id, 'emmett') : undefined
    const ceilingText =
      row.ceiling.length === 0 ? '—' : ceiling ? `${figure(ceiling)} (${ceiling.id})` : 'n/a: ceiling not measured'
    out.push(
      `| ${row.label} | ${row.unit} | ${cell(ctx, row.id, 'annals')} | ${ceilingText} | ${ratioText(ratio(a, ceiling))} | ${row.peer ? cell(ctx, row.id, 'emmett') : '—'} | ${ratioText(ratio(a, peer))} |`,
    )
  }
  out.push('')
  out.push('## Raw ceilings (same drivers: pg, ioredis, @elastic/elasticsearch)')
  out.push('')
  out.push('| Ceiling | Unit | Figure |')
  out.push('|---|---|---|')
  for (const r of RAW_ROWS) out.push(`| ${r.label} | ${r.unit} | ${cell(ctx, r.id, 'raw')} |`)
  if (ctx.roundTrips.length) {
    out.push('')
    out.push('## Round trips per operation (statements sent through pg, counted on one operation)')
    out.push('')
    const ops = [...new Set(ctx.roundTrips.map((r) => r.op))]
    out.push('| Operation | Annals | Raw | Emmett |')
    out.push('|---|---|---|---|')
    for (const op of ops) {
      const get = (system: System) => ctx.roundTrips.find((r) => r.op === op && r.system === system)?.trips ?? '—'
      out.push(`| ${op} | ${get('annals')} | ${get('raw')} | ${get('emmett')} |`)
    }
  }
  if (ctx.notes.length) {
    out.push('')
    out.push('## Notes')
    out.push('')
    for (const n of ctx.notes) out.push(`- ${n}`)
  }
  if (ctx.errors.length) {
    out.push('')
    out.push('## Errors')
    out.push('')
    for (const e of ctx.errors) out.push(`- ${e.workload}: ${e.error}`)
  }
  out.push('')
  return alignTables(out.join('\n'))
}
