import type { EventStore, LogWatcher } from '@annals/core'
import {
  type AnyProjection,
  createPostgresPendingCounter,
  createProjectionAdmin,
  createProjectionRunner,
  DEFAULT_SCHEMA,
  migrateProjections,
  type ProjectionRunner,
  type ProjectionStatus,
  UnknownProjectionError,
} from '@annals/projections'
import { createPostgresEventStore, createPostgresLogWatcher, migrate } from '@annals/store-postgres'
import cliProgress from 'cli-progress'
import { Command, CommanderError } from 'commander'
import type pg from 'pg'
import { pino } from 'pino'
import { type AnnalsConfig, findConfigFile, loadConfig } from './config.js'
import { type Connections, openConnections, pingRedis } from './connections.js'
import { CliNotMigratedError, UsageError } from './errors.js'
import { addOperationsCommands } from './operations-commands.js'
import { formatSeconds, renderTable, toJson } from './output.js'

/** Where the CLI reads and writes (injectable for tests and embedding). */
export type CliIo = Readonly<{
  env: NodeJS.ProcessEnv
  cwd: string
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Whether stderr is a terminal (live progress bars) or not (a progress line per second). */
  isTTY?: boolean
}>

type StoreAdapter = Readonly<{
  store: EventStore
  watcher?: LogWatcher
  migrate: () => Promise<void>
  close: () => Promise<void>
}>

async function openStore(pool: pg.Pool, schema: string, config: AnnalsConfig): Promise<StoreAdapter> {
  if (config.store) {
    const own = config.store
    return {
      store: own.eventStore,
      ...(own.watcher ? { watcher: own.watcher } : {}),
      migrate: async () => {
        await own.migrate?.()
      },
      // The config's store is the config's to close.
      close: async () => {},
    }
  }
  const watcher = createPostgresLogWatcher({ pool, schema })
  return {
    store: createPostgresEventStore({ pool, schema }),
    watcher,
    migrate: async () => {
      await migrate({ pool, schema })
    },
    close: () => watcher.close(),
  }
}

function pick(config: AnnalsConfig, name: string | undefined, all: boolean | undefined): AnyProjection[] {
  if (all && name) throw new UsageError('give a projection name or --all, not both')
  if (all) return [...config.projections]
  if (!name) throw new UsageError('give a projection name or --all')
  const found = config.projections.find((p) => p.name === name)
  if (!found)
    throw new UnknownProjectionError(
      name,
      config.projections.map((p) => p.name),
    )
  return [found]
}

function checkpointText(s: ProjectionStatus): string {
  return s.checkpoint ? `${s.checkpoint.transactionId}/${s.checkpoint.position}` : '-'
}

/** Handled events in the log (the total of a rebuild's progress); null when the store table is unknown. */
async function countHandled(pool: pg.Pool, schema: string, types: readonly string[]): Promise<number | null> {
  try {
    return await createPostgresEventStore({ pool, schema }).countEvents({ types })
  } catch {
    return null
  }
}

/** Builds the `annals` command tree. Actions write through `io`; errors propagate to {@link runCli}. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('annals')
    .description('Operate Annals projections: status, rebuilds, dead letters, migrations')
    .option('-c, --config <file>', 'config file (default: annals.config.{ts,mts,mjs,js} in the working directory)')
    .option('--schema <name>', 'schema of the store and projection tables (overrides the config)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError()

  type Session = { config: AnnalsConfig; connections: Connections; schema: string }
  // Commands that only touch the Annals tables work without a config (defaults), but honour one.
  async function withSession<T>(
    work: (s: Session) => Promise<T>,
    config: 'required' | 'optional' = 'required',
  ): Promise<T> {
    const opts = program.opts<{ config?: string; schema?: string }>()
    const connections = await openConnections(io.env)
    try {
      let loaded: AnnalsConfig = { projections: [] }
      let file: string | null = null
      try {
        file = findConfigFile(io.cwd, opts.config)
      } catch (error) {
        if (config === 'required' || opts.config) throw error
      }
      if (file) {
        loaded = await loadConfig(file, { pool: connections.pool, redis: () => connections.redis(), env: io.env })
      }
      if (loaded.projections.some((p) => p.sink.kind === 'redis') && io.env.REDIS_URL) {
        // A Redis sink's client comes from the config; check the server answers before relying on it.
        await pingRedis(connections.redis(), io.env)
      }
      const schema = opts.schema ?? loaded.schema ?? DEFAULT_SCHEMA
      return await work({ config: loaded, connections, schema })
    } finally {
      await connections.close()
    }
  }

  const projections = program.command('projections').description('list, inspect and rebuild projections')

  projections
    .command('list')
    .description('the projections of the config, with their live generation')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withSession(async ({ config, connections, schema }) => {
        const status = await createProjectionAdmin({ pool: connections.pool, schema }).status(config.projections)
        const defined = new Map(config.projections.map((p) => [p.name, p]))
        const rows = status.map((s) => ({
          name: s.name,
          version: s.definedVersion,
          liveVersion: s.liveVersion,
          liveGeneration: s.liveGeneration,
          sink: defined.get(s.name)?.sink.kind ?? null,
          handles: defined.get(s.name)?.handles ?? [],
          defined: defined.has(s.name),
        }))
        if (o.json) return io.stdout(`${toJson(rows)}\n`)
        io.stdout(
          `${renderTable(
            ['NAME', 'VERSION', 'LIVE', 'GENERATION', 'SINK', 'HANDLES'],
            rows.map((r) => [
              r.name + (r.defined ? '' : ' (not in config)'),
              r.version === null ? '-' : String(r.version),
              r.liveVersion === null ? '-' : String(r.liveVersion),
              r.liveGeneration === null ? '-' : String(r.liveGeneration),
              r.sink ?? '-',
              r.handles.join(','),
            ]),
          )}\n`,
        )
      })
    })

  projections
    .command('status')
    .description('checkpoint, lag, throughput, dead letters, state and owner of every projection')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withSession(async ({ config, connections, schema }) => {
        const status = await createProjectionAdmin({ pool: connections.pool, schema }).status(config.projections)
        if (o.json) return io.stdout(`${toJson(status)}\n`)
        io.stdout(
          `${renderTable(
            ['NAME', 'STATE', 'GEN', 'VERSION', 'CHECKPOINT', 'LAG', 'LAG TIME', 'RATE/S', 'DLQ', 'OWNER', 'REBUILD'],
            status.map((s) => [
              s.name,
              s.state,
              s.liveGeneration === null ? '-' : String(s.liveGeneration),
              `${s.liveVersion ?? '-'}${s.definedVersion !== null && s.definedVersion !== s.liveVersion ? `->${s.definedVersion}` : ''}`,
              checkpointText(s),
              s.lagEvents === null ? '-' : String(s.lagEvents),
              formatSeconds(s.lagSeconds),
              s.throughput.toFixed(0),
              String(s.deadLetters),
              s.owner ?? '-',
              s.building ? `g${s.building.generation}: ${s.building.eventsDone} events` : '-',
            ]),
          )}\n`,
        )
      })
    })

  projections
    .command('rebuild')
    .description('rebuild from event zero beside the live generation, then switch readers atomically')
    .argument('[name]', 'projection to rebuild')
    .option('--all', 'rebuild every projection of the config')
    .option('--timeout <seconds>', 'give up after this long', '3600')
    .option('--no-progress', 'no progress bar')
    .action(async (name: string | undefined, o: { all?: boolean; timeout: string; progress: boolean }) => {
      await withSession(async ({ config, connections, schema }) => {
        const chosen = pick(config, name, o.all)
        const pool = connections.pool
        await migrateProjections({ pool, schema })
        const admin = createProjectionAdmin({ pool, schema })
        const before = new Map((await admin.status(chosen)).map((s) => [s.name, s]))
        for (const p of chosen) if (before.get(p.name)?.liveGeneration != null) await admin.requestRebuild(p.name)
        // Projections no worker owns are rebuilt here, by a runner of our own that holds their leases.
        const unowned = chosen.filter((p) => !before.get(p.name)?.owner)
        let adapter: StoreAdapter | null = null
        let runner: ProjectionRunner | null = null
        if (unowned.length > 0) {
          adapter = await openStore(pool, schema, config)
          runner = createProjectionRunner({
            pool,
            schema,
            store: adapter.store,
            ...(adapter.watcher ? { watcher: adapter.watcher } : {}),
            projections: unowned,
            countPending: createPostgresPendingCounter({ pool, schema }),
            logger: pino({ level: io.env.ANNALS_LOG_LEVEL ?? 'warn' }, pino.destination(2)),
            controlIntervalMs: 250,
          })
          await runner.start()
        }
        const totals = new Map<string, number | null>()
        for (const p of chosen) totals.set(p.name, await countHandled(pool, schema, p.handles))
        const bars = new cliProgress.MultiBar(
          {
            format: '{name} [{bar}] {percentage}% | {value}/{total} events | {rate} ev/s | ETA {eta_formatted}',
            stream: { write: (s: string) => io.stderr(s) } as unknown as NodeJS.WritableStream,
            noTTYOutput: !io.isTTY,
            notTTYSchedule: 1000,
            hideCursor: io.isTTY ?? false,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        )
        const bar = new Map(
          chosen.map((p) => [
            p.name,
            o.progress ? bars.create(totals.get(p.name) ?? 1, 0, { name: p.name, rate: '0' }) : null,
          ]),
        )
        const started = Date.now()
        const deadline = started + Number(o.timeout) * 1000
        const done = new Set<string>()
        try {
          while (done.size < chosen.length) {
            if (Date.now() > deadline) throw new UsageError(`rebuild did not finish within ${o.timeout}s`)
            const local = new Map((runner?.status() ?? []).map((s) => [s.name, s]))
            const shared = new Map((await admin.status(chosen)).map((s) => [s.name, s]))
            for (const p of chosen) {
              if (done.has(p.name)) continue
              const s = shared.get(p.name)
              const l = local.get(p.name)
              const previous = before.get(p.name)?.liveGeneration ?? null
              const switched =
                s?.building === null &&
                s.liveGeneration !== null &&
                (previous === null ? (l ? l.state === 'live' : s.state === 'live') : s.liveGeneration > previous)
              const eventsDone =
                l?.building?.eventsDone ?? s?.building?.eventsDone ?? (switched ? totals.get(p.name) : 0) ?? 0
              const elapsed = (Date.now() - started) / 1000
              const total = Math.max(totals.get(p.name) ?? 0, eventsDone, 1)
              const b = bar.get(p.name)
              if (b) {
                b.setTotal(total)
                b.update(switched ? total : eventsDone, {
                  name: p.name,
                  rate: (eventsDone / Math.max(elapsed, 0.001)).toFixed(0),
                })
              }
              if (switched) done.add(p.name)
            }
            if (done.size < chosen.length) await new Promise((resolve) => setTimeout(resolve, 200))
          }
        } finally {
          bars.stop()
          await runner?.stop()
          await adapter?.close()
        }
        const after = await admin.status(chosen)
        for (const s of after) {
          io.stdout(`${s.name}: generation ${s.liveGeneration ?? '-'} live (version ${s.liveVersion ?? '-'})\n`)
        }
      })
    })

  const dlq = program.command('dlq').description('dead letters: events parked after failing')

  dlq
    .command('list')
    .description('parked events')
    .option('-p, --projection <name>', 'only this projection')
    .option('--all', 'include replayed and obsolete letters')
    .option('--json', 'print JSON')
    .action(async (o: { projection?: string; all?: boolean; json?: boolean }) => {
      await withSession(async ({ connections, schema }) => {
        const letters = await createProjectionAdmin({ pool: connections.pool, schema }).listDeadLetters({
          ...(o.projection ? { projection: o.projection } : {}),
          status: o.all ? 'all' : 'parked',
        })
        if (o.json) return io.stdout(`${toJson(letters)}\n`)
        io.stdout(
          `${renderTable(
            ['ID', 'PROJECTION', 'GEN', 'STREAM', 'VERSION', 'TYPE', 'REASON', 'STATUS', 'ATTEMPTS', 'ERROR'],
            letters.map((l) => [
              l.id.toString(),
              l.projection,
              String(l.generation),
              l.streamId,
              l.streamVersion.toString(),
              l.eventType,
              l.reason,
              l.status,
              String(l.attempts),
              (l.error ?? '').slice(0, 80),
            ]),
          )}\n`,
        )
      }, 'optional')
    })

  dlq
    .command('retry')
    .description("replay parked events (the owner replays each stream's parked events in order)")
    .option('-p, --projection <name>', 'only this projection')
    .option('--id <id>', 'only this dead letter (and the ones of its stream behind it)')
    .action(async (o: { projection?: string; id?: string }) => {
      await withSession(async ({ connections, schema }) => {
        if (o.id !== undefined && !/^\d+$/.test(o.id)) throw new UsageError(`--id must be a number (got ${o.id})`)
        const n = await createProjectionAdmin({ pool: connections.pool, schema }).retryDeadLetters({
          ...(o.projection ? { projection: o.projection } : {}),
          ...(o.id !== undefined ? { id: BigInt(o.id) } : {}),
        })
        io.stdout(`${n} dead letter(s) marked for replay; the owning worker replays them within a second\n`)
      }, 'optional')
    })

  program
    .command('migrate')
    .description("create or upgrade the event store's and the projections' tables")
    .action(async () => {
      await withSession(async ({ config, connections, schema }) => {
        const adapter = await openStore(connections.pool, schema, config)
        try {
          await adapter.migrate()
        } finally {
          await adapter.close()
        }
        const { applied } = await migrateProjections({ pool: connections.pool, schema })
        io.stdout(
          `store migrated; projections migrations applied: ${applied.length ? applied.join(', ') : 'none (up to date)'}\n`,
        )
      }, 'optional')
    })

  addOperationsCommands(program, io, (work) =>
    withSession(({ connections, schema }) => work({ pool: connections.pool, schema }), 'optional'),
  )

  return program
}

/** Runs the CLI on `argv` (without the node and script entries); resolves to the exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io)
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return 0
  } catch (caught) {
    // 42P01: undefined table — the one database error with an obvious fix.
    const error = (caught as { code?: unknown }).code === '42P01' ? new CliNotMigratedError({ cause: caught }) : caught
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2
    }
    const code = (error as { code?: unknown }).code
    const message = error instanceof Error ? error.message : String(error)
    io.stderr(`error ${typeof code === 'string' ? code : 'UNEXPECTED'}: ${message}\n`)
    if (code === 'ANNALS_CLI_ERR_USAGE') return 2
    return 1
  }
}
