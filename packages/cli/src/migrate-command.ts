import { migrateProjections } from '@annals/projections'
import type { Command } from 'commander'
import { type CliIo, openStore, type WithSession } from './session.js'

/** Adds `annals migrate`. */
export function addMigrateCommand(program: Command, io: CliIo, withSession: WithSession): void {
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
}
