/**
 * Annals benchmark suite: Annals side by side with the raw engines (same drivers) and a peer (Emmett).
 *
 *   pnpm bench          full run, writes bench/RESULTS.md (~15 min on 2 cores)
 *   pnpm bench:quick    every workload at tiny sizes (< 60 s), writes bench/results/quick.md
 *
 * Options: --quick, --only=<substring>[,<substring>] (workload names), --out=<file>.
 * Exits non-zero only when a workload fails with an error, never because a target is missed.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Redis } from 'ioredis'
import pg from 'pg'
import { NotAvailableError } from './lib/annals-store.js'
import { BenchContext, progress } from './lib/context.js'
import type { System } from './lib/model.js'
import { type Machine, renderReport } from './lib/report.js'
import { installSignalCleanup, PG_ADMIN_URL, probeSearch, REDIS_URL, runCleanups } from './lib/services.js'
import { nowMs } from './lib/stats.js'

type WorkloadModule = { run: (ctx: BenchContext) => Promise<void> }

type Workload = Readonly<{
  name: string
  system: System
  /** Figures this workload records: reported as n/a when its module cannot be loaded. */
  ids: readonly string[]
  load: () => Promise<WorkloadModule>
}>

// Order matters: the peer runs last because its driver layer (dumbo) installs process-wide pg type
// parsers (int8 -> bigint, its own JSON parser) that would otherwise change what the others measure.
const WORKLOADS: readonly Workload[] = [
  {
    name: 'raw-pg',
    system: 'raw',
    ids: ['raw.insert1.seq', 'raw.insert1.c16', 'raw.insert100.seq', 'raw.keyset', 'raw.load1k', 'raw.pg.upsert'],
    load: () => import('./workloads/raw-pg.js'),
  },
  {
    name: 'raw-redis-search',
    system: 'raw',
    ids: ['raw.redis.hset', 'raw.redis.xadd', 'raw.search.bulk'],
    load: () => import('./workloads/raw-redis-search.js'),
  },
  {
    name: 'annals-append',
    system: 'annals',
    ids: ['append.1.seq', 'append.1.c16', 'append.100.seq', 'append.hot.8'],
    load: () => import('./workloads/annals-append.js'),
  },
  {
    name: 'annals-load',
    system: 'annals',
    ids: ['load.1k', 'load.100k.snap', 'timetravel.p50', 'timetravel.p99'],
    load: () => import('./workloads/annals-load.js'),
  },
  { name: 'annals-log', system: 'annals', ids: ['log.read'], load: () => import('./workloads/annals-log.js') },
  {
    name: 'annals-rebuild',
    system: 'annals',
    ids: ['rebuild.postgres', 'rebuild.redis', 'rebuild.search'],
    load: () => import('./workloads/annals-rebuild.js'),
  },
  {
    name: 'annals-visible',
    system: 'annals',
    ids: ['visible.p50', 'visible.p99'],
    load: () => import('./workloads/annals-visible.js'),
  },
  {
    name: 'annals-outbox',
    system: 'annals',
    ids: ['outbox.redis'],
    load: () => import('./workloads/annals-outbox.js'),
  },
  {
    name: 'emmett',
    system: 'emmett',
    ids: ['append.1.seq', 'append.1.c16', 'append.100.seq', 'append.hot.8', 'load.1k', 'log.read'],
    load: () => import('./workloads/emmett.js'),
  },
]

function arg(name: string): string | undefined {
  const prefix = `--${name}=`
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length)
}

async function describeMachine(mode: 'quick' | 'full', durationS: number): Promise<Machine> {
  const cpus = os.cpus()
  let postgres = '?'
  const c = new pg.Client({ connectionString: PG_ADMIN_URL })
  try {
    await c.connect()
    const res = await c.query<{ v: string; sc: string; fs: string; sb: string }>(
      "SELECT current_setting('server_version') AS v, current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fs, current_setting('shared_buffers') AS sb",
    )
    const r = res.rows[0]!
    postgres = `${r.v} (fsync=${r.fs}, synchronous_commit=${r.sc}, shared_buffers=${r.sb})`
  } catch {
    // The report still gets written; the figures above say whether Postgres answered.
  } finally {
    await c.end().catch(() => undefined)
  }
  let redis = '?'
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await r.connect()
    const info = await r.info('server')
    redis = /redis_version:(\S+)/.exec(info)?.[1] ?? '?'
  } catch {
    // as above
  } finally {
    r.disconnect()
  }
  const s = await probeSearch()
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpus: `${cpus.length} CPU (${cpus[0]?.model.trim() ?? '?'})`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres,
    redis,
    search: s ? `${s.engine} ${s.version} at 127.0.0.1:9200` : 'none answered at 127.0.0.1:9200',
    mode,
    command: mode === 'quick' ? 'pnpm bench:quick' : 'pnpm bench',
    durationS,
  }
}

async function main(): Promise<number> {
  const mode = process.argv.includes('--quick') ? 'quick' : 'full'
  const only = arg('only')
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const ctx = new BenchContext(mode)
  installSignalCleanup(progress)
  const t0 = nowMs()
  progress(`mode ${mode}${only ? `, only ${only.join(', ')}` : ''}`)
  for (const w of WORKLOADS) {
    if (only && !only.some((o) => w.name.includes(o))) continue
    progress(`== ${w.name}`)
    let mod: WorkloadModule
    try {
      mod = await w.load()
    } catch (error) {
      const reason = `workload module did not load (${(error as Error).message.split('\n')[0]})`
      for (const id of w.ids) ctx.skip(id, w.system, reason)
      continue
    }
    try {
      await mod.run(ctx)
    } catch (error) {
      const err = error as Error
      if (err instanceof NotAvailableError) {
        for (const id of w.ids) if (!ctx.find(id, w.system)) ctx.skip(id, w.system, err.message)
      } else {
        progress(`!! ${w.name} failed: ${err.stack ?? err.message}`)
        ctx.errors.push({ workload: w.name, error: err.message.split('\n')[0] ?? String(err) })
      }
    } finally {
      await runCleanups(progress)
    }
    for (const id of w.ids) {
      if (!ctx.find(id, w.system) && !ctx.skips.some((s) => s.id === id && s.system === w.system)) {
        ctx.skip(id, w.system, ctx.errors.some((e) => e.workload === w.name) ? 'workload failed' : 'not measured')
      }
    }
  }
  const machine = await describeMachine(mode, (nowMs() - t0) / 1000)
  const report = renderReport(ctx, machine)
  const here = import.meta.dirname
  const out = arg('out') ?? (mode === 'quick' ? path.join(here, 'results', 'quick.md') : path.join(here, 'RESULTS.md'))
  mkdirSync(path.dirname(out), { recursive: true })
  writeFileSync(out, report)
  process.stdout.write(`${report}\n`)
  progress(`report written to ${path.relative(process.cwd(), out)}`)
  return ctx.errors.length > 0 ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    progress(`bench crashed: ${(error as Error).stack ?? String(error)}`)
    await runCleanups(progress)
    process.exit(1)
  },
)
