import type { ProjectionStatus } from '@annals/projections'
import type { Command } from 'commander'
import { formatSeconds, renderTable, toJson } from './output.js'
import { addRebuildCommand } from './rebuild-command.js'
import { type CliIo, prefixedCommand, projectionAdmin, type TablePrefixOptions, type WithSession } from './session.js'

function checkpointText(s: ProjectionStatus): string {
  return s.checkpoint ? `${s.checkpoint.transactionId}/${s.checkpoint.position}` : '-'
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
        const now = Date.now()
        const held = status.map((s) => fenceText(s, now)).filter((line) => line !== null)
        if (held.length > 0) io.stdout(`\nheld behind the log's fence (server-wide):\n${held.join('\n')}\n`)
      })
    })

  addRebuildCommand(projections, io, withSession)
}
