/**
 * Annals benchmark suite: Annals side by side with the raw engines (same drivers) and a peer (Emmett).
 *
 *   pnpm bench          full run, writes bench/RESULTS.md (~15 min on 2 cores)
 *   pnpm bench:quick    every workload at tiny sizes (< 60 s), writes bench/results/quick.md
 *
 * Options: --quick, --only=<substring>[,<substring>] (workload names), --out=<file>,
 * --set=<size>=<n>[,...] (override sizes, e.g. --set=rebuildEvents=100000,longRuns=1; see lib/context.ts).
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
  /** Figures this workload records (`system:id`): reported as n/a when its module cannot be loaded. */
  ids: readonly `${System}:${string}`[]
  load: () => Promise<WorkloadModule>
}>

// Order matters: the peer runs last because its driver layer (dumbo) installs process-wide pg type
// parsers (int8 -> bigint, its own JSON parser) that would otherwise change what the others measure.
// The ratio targets pair each Annals figure with its raw ceiling in alternating runs (append, load, log).
const WORKLOADS: readonly Workload[] = [
  {
    name: 'append',
    ids: [
      'raw:raw.insert1.seq',
      'raw:raw.insert1.c16',
      'raw:raw.insert100.seq',
      'annals:append.1.seq',
      'annals:append.1.c16',
      'annals:append.100.seq',
      'annals:append.hot.8',
    ],
    load: () => import('./workloads/append.js'),
  },
  {
    name: 'load',
    ids: [
      'raw:raw.load1k',
      'annals:load.1k',
      'annals:load.100k.snap',
      'annals:timetravel.p50',
      'annals:timetravel.p99',
    ],
    load: () => import('./workloads/load.js'),
  },
  { name: 'log', ids: ['raw:raw.keyset', 'annals:log.read'], load: () => import('./workloads/log.js') },
  { name: 'raw-pg-upsert', ids: ['raw:raw.pg.upsert'], load: () => import('./workloads/raw-pg.js') },
  {
    name: 'raw-redis-search',
    ids: ['raw:raw.redis.hset', 'raw:raw.redis.xadd', 'raw:raw.search.bulk'],
    load: () => import('./workloads/raw-redis-search.js'),
  },
  {
    name: 'annals-rebuild',
    ids: ['annals:rebuild.postgres', 'annals:rebuild.redis', 'annals:rebuild.search'],
    load: () => import('./workloads/annals-rebuild.js'),
  },
  {
    name: 'annals-visible',
    ids: ['annals:visible.p50', 'annals:visible.p99'],
    load: () => import('./workloads/annals-visible.js'),
  },
  { name: 'annals-outbox', ids: ['annals:outbox.redis'], load: () => import('./workloads/annals-outbox.js') },
  {
    name: 'rabbitmq',
    ids: [
      'raw:raw.rabbit.publish',
      'annals:rabbit.relay',
      'raw:raw.rabbit.consume',
      'annals:rabbit.consume.1',
      'annals:rabbit.consume.2',
      'annals:rabbit.consume.3',
    ],
    load: () => import('./workloads/rabbitmq.js'),
  },
  {
    name: 'kafka',
    ids: [
      'raw:raw.kafka.produce',
      'annals:kafka.relay',
      'raw:raw.kafka.consume',
      'annals:kafka.consume.1',
      'annals:kafka.consume.2',
      'annals:kafka.consume.3',
    ],
    load: () => import('./workloads/kafka.js'),
  },
  {
    name: 'emmett',
    ids: [
      'emmett:append.1.seq',
      'emmett:append.1.c16',
      'emmett:append.100.seq',
      'emmett:append.hot.8',
      'emmett:load.1k',
      'emmett:log.read',
    ],
    load: () => import('./workloads/emmett.js'),
  },
]

function splitId(full: string): [System, string] {
  const i = full.indexOf(':')
  return [full.slice(0, i) as System, full.slice(i + 1)]
}

function arg(name: string): string | undefined {
  const prefix = `--${name}=`
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length)
}

async function describeMachine(mode: 'quick' | 'full', durationS: number, loadAtStart: number): Promise<Machine> {
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
    load: `${loadAtStart.toFixed(2)} / ${(os.loadavg()[0] ?? 0).toFixed(2)}`,
  }
}

async function main(): Promise<number> {
  const mode = process.argv.includes('--quick') ? 'quick' : 'full'
  const only = arg('only')
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const overrides: Record<string, number> = {}
  for (const pair of (arg('set') ?? '').split(',').filter(Boolean)) {
    const [key, value] = pair.split('=')
    if (!key || value === undefined || !Number.isFinite(Number(value))) throw new Error(`--set: bad "${pair}"`)
    overrides[key] = Number(value)
  }
  const ctx = new BenchContext(mode, overrides)
  installSignalCleanup(progress)
  const t0 = nowMs()
  const loadAtStart = os.loadavg()[0] ?? 0
  progress(`mode ${mode}${only ? `, only ${only.join(', ')}` : ''}`)
  for (const w of WORKLOADS) {
    if (only && !only.some((o) => w.name.includes(o))) continue
    progress(`== ${w.name}`)
    let mod: WorkloadModule
    try {
      mod = await w.load()
    } catch (error) {
      const reason = `workload module did not load (${(error as Error).message.split('\n')[0]})`
      for (const full of w.ids) {
        const [system, id] = splitId(full)
        ctx.skip(id, system, reason)
      }
      continue
    }
    try {
      await mod.run(ctx)
    } catch (error) {
      const err = error as Error
      if (err instanceof NotAvailableError) {
        for (const full of w.ids) {
          const [system, id] = splitId(full)
          if (!ctx.find(id, system)) ctx.skip(id, system, err.message)
        }
      } else {
        progress(`!! ${w.name} failed: ${err.stack ?? err.message}`)
        ctx.errors.push({ workload: w.name, error: err.message.split('\n')[0] ?? String(err) })
      }
    } finally {
      await runCleanups(progress)
    }
    for (const full of w.ids) {
      const [system, id] = splitId(full)
      if (!ctx.find(id, system) && !ctx.skips.some((s) => s.id === id && s.system === system)) {
        ctx.skip(id, system, ctx.errors.some((e) => e.workload === w.name) ? 'workload failed' : 'not measured')
      }
    }
  }
  const machine = await describeMachine(mode, (nowMs() - t0) / 1000, loadAtStart)
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
