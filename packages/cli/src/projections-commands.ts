import type { PartitionStatus, ProjectionStatus } from '@annals/projections'
import type { Command } from 'commander'
import { formatSeconds, renderTable, toJson } from './output.js'
import { addRebuildCommand } from './rebuild-command.js'
import { type CliIo, prefixedCommand, projectionAdmin, type TablePrefixOptions, type WithSession } from './session.js'

function checkpointText(s: Pick<ProjectionStatus, 'checkpoint' | 'partitions'>): string {
  if (s.checkpoint) return `${s.checkpoint.transactionId}/${s.checkpoint.position}`
  return s.partitions.length > 0 ? 'per partition' : '-'
}

/**
 * The live version, and what the config's version means beside it: a higher one is a rebuild to
 * come; a lower one than the highest deployed is an old deploy that stands by (`superseded`).
 */
function versionText(s: ProjectionStatus): string {
  const { liveVersion: live, definedVersion: defined, highestVersion: highest } = s
  if (live === null) return defined === null ? '-' : `- (config ${defined})`
  if (defined === null || defined === live) return String(live)
  if (highest !== null && defined < highest) return `${live} (config ${defined}: superseded by ${highest})`
  return `${live} (config ${defined}: rebuild due)`
}

function leaseText(p: PartitionStatus): string {
  if (p.leaseExpiresInMs === null) return 'never taken'
  const seconds = formatSeconds(Math.abs(p.leaseExpiresInMs) / 1000)
  return p.leaseExpiresInMs >= 0 ? `expires in ${seconds}` : `expired ${seconds} ago`
}

/** One line per partition of a partitioned projection: owner, lease, checkpoint, lag, dead letters. */
function partitionsText(s: ProjectionStatus): string {
  const header = `${s.name}: ${s.partitionCount} partitions, generation ${s.liveGeneration ?? '-'}`
  return `${header}\n${renderTable(
    ['PARTITION', 'OWNER', 'LEASE', 'HELD', 'STATE', 'CHECKPOINT', 'LAG', 'LAG TIME', 'DLQ', 'REBUILD'],
    s.partitions.map((p) => [
      String(p.partition),
      p.owner ?? (p.lastOwner ? `- (was ${p.lastOwner})` : '-'),
      leaseText(p),
      p.heldForMs === null || p.owner === null ? '-' : formatSeconds(p.heldForMs / 1000),
      p.state,
      checkpointText({ checkpoint: p.checkpoint, partitions: [] }),
      p.lagEvents === null ? '-' : String(p.lagEvents),
      formatSeconds(p.lagSeconds),
      String(p.deadLetters),
      p.building
        ? `g${p.building.generation}: ${p.building.eventsDone} events${p.building.caughtUp ? ', caught up' : ''}`
        : '-',
    ]),
  )}`
}

/** What the log's fence holds back from a `held` projection, and the backend holding it. */
function fenceText(s: ProjectionStatus, now: number): string | null {
  if (!s.fence) return null
  const h = s.fence.holder
  if (!h) return `${s.name}: ${s.fence.heldEvents} committed event(s) held back by a transaction that has ended since`
  const age = formatSeconds(Math.max(0, (now - h.since.getTime()) / 1000))
  const query = h.query.replace(/\s+/g, ' ').trim()
  return [
    `${s.name}: ${s.fence.heldEvents} committed event(s) held back by transaction ${h.transactionId}`,
    `  pid ${h.pid ?? 'none (prepared)'}, database ${h.database ?? '-'}, application "${h.applicationName}", ${h.state}, open ${age} (since ${h.since.toISOString()})`,
    `  query: ${query.length > 0 ? query : '(not visible)'}`,
  ].join('\n')
}

/** Adds `annals projections list|status|rebuild` (they need a config: its projections are the subject). */
export function addProjectionsCommands(program: Command, io: CliIo, withSession: WithSession): void {
  const projections = program.command('projections').description('list, inspect and rebuild projections')

  prefixedCommand(projections, 'list', 'the projections of the config, with their live generation', 'projection tables')
    .option('--json', 'print JSON')
    .action(async (o: TablePrefixOptions & { json?: boolean }) => {
      await withSession(async (session) => {
        const { config } = session
        const status = await projectionAdmin(session, o).status(config.projections)
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

  prefixedCommand(
    projections,
    'status',
    'checkpoint, lag, throughput, dead letters, state and owner of every projection (and what holds a held one back)',
    'projection tables',
  )
    .option('--json', 'print JSON')
    .action(async (o: TablePrefixOptions & { json?: boolean }) => {
      await withSession(async (session) => {
        const { config } = session
        const status = await projectionAdmin(session, o).status(config.projections)
        if (o.json) return io.stdout(`${toJson(status)}\n`)
        io.stdout(
          `${renderTable(
            ['NAME', 'STATE', 'GEN', 'VERSION', 'CHECKPOINT', 'LAG', 'LAG TIME', 'RATE/S', 'DLQ', 'OWNER', 'REBUILD'],
            status.map((s) => [
              s.name,
              s.state,
              s.liveGeneration === null ? '-' : String(s.liveGeneration),
              versionText(s),
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
        const partitioned = status.filter((s) => s.partitions.length > 0).map(partitionsText)
        if (partitioned.length > 0) io.stdout(`\n${partitioned.join('\n\n')}\n`)
        const now = Date.now()
        const held = status.map((s) => fenceText(s, now)).filter((line) => line !== null)
        if (held.length > 0) io.stdout(`\nheld behind the log's fence (server-wide):\n${held.join('\n')}\n`)
      })
    })

  addRebuildCommand(projections, io, withSession)
}
