import type { Command } from 'commander'
import { UsageError } from './errors.js'
import { renderTable, toJson } from './output.js'
import { type CliIo, prefixedCommand, projectionAdmin, type TablePrefixOptions, type WithSession } from './session.js'

/** Adds `annals dlq list|retry`: the projections' dead letters (no config needed). */
export function addDlqCommands(program: Command, io: CliIo, withSession: WithSession): void {
  const dlq = program.command('dlq').description('dead letters: events parked after failing')

  prefixedCommand(dlq, 'list', 'parked events', 'projection tables')
    .option('-p, --projection <name>', 'only this projection')
    .option('--all', 'include replayed and obsolete letters')
    .option('--json', 'print JSON')
    .action(async (o: TablePrefixOptions & { projection?: string; all?: boolean; json?: boolean }) => {
      await withSession(async (session) => {
        const letters = await projectionAdmin(session, o).listDeadLetters({
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

  prefixedCommand(
    dlq,
    'retry',
    "replay parked events (the owner replays each stream's parked events in order)",
    'projection tables',
  )
    .option('-p, --projection <name>', 'only this projection')
    .option('--id <id>', 'only this dead letter (and the ones of its stream behind it)')
    .action(async (o: TablePrefixOptions & { projection?: string; id?: string }) => {
      await withSession(async (session) => {
        if (o.id !== undefined && !/^\d+$/.test(o.id)) throw new UsageError(`--id must be a number (got ${o.id})`)
        const n = await projectionAdmin(session, o).retryDeadLetters({
          ...(o.projection ? { projection: o.projection } : {}),
          ...(o.id !== undefined ? { id: BigInt(o.id) } : {}),
        })
        io.stdout(`${n} dead letter(s) marked for replay; the owning worker replays them within a second\n`)
      }, 'optional')
    })
}
