import type { AnyProjection, DeadLetter } from '@annals/projections'
import type { Command } from 'commander'
import { UsageError } from './errors.js'
import { renderTable, toJson } from './output.js'
import { startOwnRunner } from './own-runner.js'
import {
  type CliIo,
  prefixedCommand,
  projectionAdmin,
  type Session,
  type TablePrefixOptions,
  tablePrefixOf,
  type WithSession,
} from './session.js'

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
    "replay parked events: the owning worker replays each stream's parked events in order; a projection no worker owns is run here until its replay is done (when the config defines it)",
    'projection tables',
  )
    .option('-p, --projection <name>', 'only this projection')
    .option('--id <id>', 'only this dead letter (and the ones of its stream behind it)')
    .option('--timeout <seconds>', 'give up waiting for the replay after this long', '60')
    .option('--no-wait', 'only mark the letters; whoever owns the projection replays them')
    .action(async (o: RetryOptions) => {
      await withSession(async (session) => retry(session, io, o), 'optional')
    })
}

type RetryOptions = TablePrefixOptions & Readonly<{ projection?: string; id?: string; timeout: string; wait: boolean }>

/**
 * Marks the letters, then says who replays them and, unless `--no-wait`, waits for the replay and
 * reports it: the owner of a projection replays at its next control tick; a projection no worker
 * owns is run by a runner of the CLI's own when the config defines it, and otherwise stays marked
 * until a worker for it starts.
 */
async function retry(session: Session, io: CliIo, o: RetryOptions): Promise<void> {
  if (o.id !== undefined && !/^\d+$/.test(o.id)) throw new UsageError(`--id must be a number (got ${o.id})`)
  const timeoutMs = Number(o.timeout) * 1000
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new UsageError(`--timeout must be seconds (got ${o.timeout})`)
  const admin = projectionAdmin(session, o)
  const id = o.id !== undefined ? BigInt(o.id) : undefined
  const parked = (projection?: string) =>
    admin.listDeadLetters({ ...(projection ? { projection } : {}), limit: 1_000_000 })
  // Read before marking: an owner may replay (and clear the marks) before a read after it.
  const before = await parked(o.projection)
  const n = await admin.retryDeadLetters({
    ...(o.projection ? { projection: o.projection } : {}),
    ...(id !== undefined ? { id } : {}),
  })
  io.stdout(`${n} dead letter(s) marked for replay\n`)
  if (n === 0) return
  // A replay covers every parked letter of each stream with a marked one.
  const target = id === undefined ? null : before.find((l) => l.id === id)
  const streamOf = (l: DeadLetter) => `${l.projection}\u0000${l.generation}\u0000${l.streamId}`
  const scope = target ? before.filter((l) => streamOf(l) === streamOf(target)) : before
  const affected = [...new Set(scope.map((l) => l.projection))].sort()
  const status = new Map((await admin.status()).map((s) => [s.name, s]))
  const defined = new Map(session.config.projections.map((p) => [p.name, p]))
  const runHere = o.wait ? affected.filter((name) => !status.get(name)?.owner && defined.has(name)) : []
  const waitFor = affected.filter((name) => status.get(name)?.owner || runHere.includes(name))
  for (const name of affected) {
    const owner = status.get(name)?.owner
    if (owner) io.stdout(`${name}: worker ${owner} replays them at its next control tick\n`)
    else if (runHere.includes(name)) io.stdout(`${name}: no worker owns it: running it here until the replay is done\n`)
    else io.stdout(`${name}: no worker owns it: the letters stay marked until a worker for it starts\n`)
  }
  if (!o.wait || waitFor.length === 0) return
  const own =
    runHere.length > 0
      ? await startOwnRunner(
          session,
          io,
          runHere.map((name) => defined.get(name) as AnyProjection),
          tablePrefixOf(o),
        )
      : null
  try {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const marked = (await parked()).filter((l) => l.retryRequestedAt !== null && waitFor.includes(l.projection))
      if (marked.length === 0) break
      if (Date.now() > deadline)
        throw new UsageError(`the replay did not finish within ${o.timeout}s (${marked.length} letter(s) still marked)`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  } finally {
    await own?.stop()
  }
  const now = new Map((await admin.listDeadLetters({ status: 'all', limit: 1_000_000 })).map((l) => [l.id, l]))
  for (const name of waitFor) {
    const letters = scope.filter((l) => l.projection === name).map((l) => now.get(l.id) ?? l)
    const still = letters.filter((l) => l.status === 'parked')
    const failure = still.find((l) => l.reason === 'failed')?.error
    io.stdout(
      `${name}: ${letters.length - still.length} replayed, ${still.length} still parked${failure ? ` (${failure})` : ''}\n`,
    )
  }
}
