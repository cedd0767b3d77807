import { Command, CommanderError } from 'commander'
import { addDlqCommands } from './dlq-commands.js'
import { CliNotMigratedError } from './errors.js'
import { addKafkaCommands } from './kafka-commands.js'
import { addMigrateCommand } from './migrate-command.js'
import { addOperationsCommands } from './operations-commands.js'
import type { ImportOptional } from './optional-import.js'
import { optionalLoaders } from './optional-packages.js'
import { addProjectionsCommands } from './projections-commands.js'
import { type CliIo, sessionRunner } from './session.js'

export type { ImportOptional, OptionalModule } from './optional-import.js'
export type { CliIo } from './session.js'

/** How a program is built besides its {@link CliIo}. */
export type ProgramOptions = Readonly<{
  /**
   * Imports `@annals/outbox` and `@annals/sagas`, optional peer dependencies that only the outbox and
   * sagas commands (and `migrate`, for their tables) load. Default: Node's `import()`.
   */
  importOptional?: ImportOptional
}>

/** Builds the `annals` command tree. Actions write through `io`; errors propagate to {@link runCli}. */
export function buildProgram(io: CliIo, options: ProgramOptions = {}): Command {
  const program = new Command('annals')
    .description('Operate Annals: migrations, projections (status, rebuilds, dead letters), the outbox and sagas')
    .option('-c, --config <file>', 'config file (default: annals.config.{ts,mts,mjs,js} in the working directory)')
    .option('--schema <name>', 'schema of the Annals tables (overrides the config; default annals)')
    .option('--database-url <url>', 'PostgreSQL connection string (default: $DATABASE_URL)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError()

  const withSession = sessionRunner(program, io)
  const optional = optionalLoaders(options.importOptional)
  addProjectionsCommands(program, io, withSession)
  addDlqCommands(program, io, withSession)
  addMigrateCommand(program, io, withSession, optional.loadIfInstalled)
  addOperationsCommands(program, io, withSession, optional.load)
  addKafkaCommands(program, io, optional.load)
  return program
}

/** Runs the CLI on `argv` (without the node and script entries); resolves to the exit status. */
export async function runCli(argv: readonly string[], io: CliIo, options: ProgramOptions = {}): Promise<number> {
  const program = buildProgram(io, options)
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
