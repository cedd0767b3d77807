import {
  type AnyProjection,
  createProjectionAdmin,
  migrateProjections,
  type PartitionRuntimeStatus,
  type ProjectionStatus,
  UnknownProjectionError,
} from '@annals/projections'
import { createPostgresEventStore } from '@annals/store-postgres'
import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import type pg from 'pg'
import type { AnnalsConfig } from './config.js'
import { UsageError } from './errors.js'
import { type OwnRunner, startOwnRunner } from './own-runner.js'
import { type CliIo, prefixedCommand, type TablePrefixOptions, tablePrefixOf, type WithSession } from './session.js'

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

/** Handled events in the log (the total of a rebuild's progress); null when the store table is unknown. */
async function countHandled(
  pool: pg.Pool,
  location: Readonly<{ schema: string; tablePrefix: string }>,
  types: readonly string[],
): Promise<number | null> {
  try {
    return await createPostgresEventStore({ pool, ...location }).countEvents({ types })
  } catch {
    return null
  }
}

const countText = (n: number | null) => (n === null ? 'unpartitioned' : `${n} partitions`)

/**
 * What the rebuild does to a projection whose partition count differs from the live generation's: a
 * new generation with the new count (streams are never moved between partitions in place). Null
 * when the count is unchanged or nothing is live yet.
 */
function partitionChange(p: AnyProjection, live: ProjectionStatus | undefined): string | null {
  if (!live || live.liveGeneration === null) return null
  const wanted = p.partitions ?? null
  if (wanted === live.livePartitions) return null
  return (
    `${p.name}: the partition count changes (${countText(live.livePartitions)} → ${countText(wanted)}): ` +
    `this is a rebuild into a new generation; generation ${live.liveGeneration} (${countText(live.livePartitions)}) ` +
    'serves readers until the new one has caught up, then readers switch at once'
  )
}

type PartitionProgress = Readonly<{ eventsDone: number; caughtUp: number; count: number }>

/**
 * A partitioned build's progress: the partitions this process owns as its runner sees them now, the
 * others as their owners last reported them (at each lease renewal).
 */
function partitionProgress(
  s: ProjectionStatus | undefined,
  local: readonly PartitionRuntimeStatus[],
): PartitionProgress | null {
  if (!s || s.partitionCount === null || !s.building) return null
  const generation = s.building.generation
  const mine = new Map(local.filter((x) => x.projection === s.name).map((x) => [x.partition, x.building]))
  let eventsDone = 0
  let caughtUp = 0
  for (const part of s.partitions) {
    const b = mine.has(part.partition) ? mine.get(part.partition) : part.building
    if (!b || b.generation !== generation) continue
    eventsDone += b.eventsDone
    if (b.caughtUp) caughtUp++
  }
  return { eventsDone, caughtUp, count: s.partitionCount }
}

function partitionsText(s: ProjectionStatus | undefined, progress: PartitionProgress | null, switched: boolean) {
  if (!s || s.partitionCount === null) return ''
  const caughtUp = switched ? s.partitionCount : (progress?.caughtUp ?? 0)
  return ` | ${caughtUp}/${s.partitionCount} partitions caught up`
}

// Held: caught up with what the log shows, a transaction elsewhere holding later commits back.
const caughtUp = (state: string) => state === 'live' || state === 'held'

type RebuildOptions = TablePrefixOptions & Readonly<{ all?: boolean; timeout: string; progress: boolean }>

/** Adds `rebuild [name] | --all` to the `projections` command. */
export function addRebuildCommand(projections: Command, io: CliIo, withSession: WithSession): void {
  prefixedCommand(
    projections,
    'rebuild',
    'rebuild from event zero beside the live generation, then switch readers atomically',
    'event store and projection tables',
  )
    .argument('[name]', 'projection to rebuild')
    .option('--all', 'rebuild every projection of the config')
    .option('--timeout <seconds>', 'give up after this long', '3600')
    .option('--no-progress', 'no progress bar')
    .action(async (name: string | undefined, o: RebuildOptions) => {
      await withSession(async (session) => {
        const { config, connections, schema } = session
        const chosen = pick(config, name, o.all)
        const pool = connections.pool
        const tablePrefix = tablePrefixOf(o)
        await migrateProjections({ pool, schema, tablePrefix })
        const admin = createProjectionAdmin({ pool, schema, tablePrefix })
        const before = new Map((await admin.status(chosen)).map((s) => [s.name, s]))
        for (const p of chosen) {
          const change = partitionChange(p, before.get(p.name))
          if (change) io.stdout(`${change}\n`)
        }
        for (const p of chosen) if (before.get(p.name)?.liveGeneration != null) await admin.requestRebuild(p.name)
        // Projections no worker owns are rebuilt here, by a runner of our own that holds their leases.
        const unowned = chosen.filter((p) => !before.get(p.name)?.owner)
        const own: OwnRunner | null =
          unowned.length > 0 ? await startOwnRunner(session, io, unowned, tablePrefix) : null
        const runner = own?.runner ?? null
        const totals = new Map<string, number | null>()
        for (const p of chosen) totals.set(p.name, await countHandled(pool, { schema, tablePrefix }, p.handles))
        const bars = new cliProgress.MultiBar(
          {
            format:
              '{name} [{bar}] {percentage}% | {value}/{total} events | {rate} ev/s | ETA {eta_formatted}{partitions}',
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
            o.progress ? bars.create(totals.get(p.name) ?? 1, 0, { name: p.name, rate: '0', partitions: '' }) : null,
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
                (previous === null ? caughtUp(l ? l.state : s.state) : s.liveGeneration > previous)
              const split = partitionProgress(s, runner?.partitions() ?? [])
              const eventsDone =
                l?.building?.eventsDone ??
                split?.eventsDone ??
                s?.building?.eventsDone ??
                (switched ? totals.get(p.name) : 0) ??
                0
              const elapsed = (Date.now() - started) / 1000
              const total = Math.max(totals.get(p.name) ?? 0, eventsDone, 1)
              const b = bar.get(p.name)
              if (b) {
                b.setTotal(total)
                b.update(switched ? total : eventsDone, {
                  name: p.name,
                  rate: (eventsDone / Math.max(elapsed, 0.001)).toFixed(0),
                  partitions: partitionsText(s, split, switched),
                })
              }
              if (switched) done.add(p.name)
            }
            if (done.size < chosen.length) await new Promise((resolve) => setTimeout(resolve, 200))
          }
        } finally {
          bars.stop()
          await own?.stop()
        }
        const after = await admin.status(chosen)
        for (const s of after) {
          io.stdout(`${s.name}: generation ${s.liveGeneration ?? '-'} live (version ${s.liveVersion ?? '-'})\n`)
        }
      })
    })
}
