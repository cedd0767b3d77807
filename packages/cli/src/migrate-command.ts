import { migrateOutbox } from '@annals/outbox'
import { migrateProjections } from '@annals/projections'
import { migrateSagas } from '@annals/sagas/postgres'
import { validateSchemaName, validateTablePrefix } from '@annals/store-postgres/sql'
import type { Command } from 'commander'
import { toJson } from './output.js'
import {
  type CliIo,
  openStore,
  prefixedCommand,
  type TablePrefixOptions,
  tablePrefixOf,
  type WithSession,
} from './session.js'

/** The migrations `annals migrate` applied, per package; `store` is null when the config's store migrated itself. */
export type MigrateReport = Readonly<{
  schema: string
  tablePrefix: string
  applied: Readonly<{
    store: readonly string[] | null
    outbox: readonly string[]
    projections: readonly string[]
    sagas: readonly string[]
  }>
}>

function line(what: string, applied: readonly string[] | null, schema: string, tablePrefix?: string): string {
  if (applied === null) return `${what}: migrated by the config's store\n`
  if (applied.length === 0) return `${what}: schema "${schema}" is up to date\n`
  const prefix = tablePrefix ? ` (table prefix "${tablePrefix}")` : ''
  return `${what}: applied ${applied.join(', ')} in schema "${schema}"${prefix}\n`
}

/** Adds `annals migrate`: every Annals package's tables in one schema, safe to re-run. */
export function addMigrateCommand(program: Command, io: CliIo, withSession: WithSession): void {
  prefixedCommand(
    program,
    'migrate',
    'create or upgrade the tables of the event store, the outbox, the projections and the sagas',
    'tables of every package',
  )
    .option('--json', 'print JSON')
    .action(async (o: TablePrefixOptions & { json?: boolean }) => {
      await withSession(async ({ config, connections, schema }) => {
        const tablePrefix = tablePrefixOf(o)
        // Checked before anything is created: each package checks too, but only once its turn comes.
        validateSchemaName(schema)
        validateTablePrefix(tablePrefix)
        const { pool } = connections
        const adapter = await openStore(pool, schema, config)
        let store: readonly string[] | null
        try {
          store = await adapter.migrate(tablePrefix)
        } finally {
          await adapter.close()
        }
        const report: MigrateReport = {
          schema,
          tablePrefix,
          applied: {
            store,
            outbox: (await migrateOutbox({ pool, schema, tablePrefix })).applied,
            projections: (await migrateProjections({ pool, schema, tablePrefix })).applied,
            sagas: (await migrateSagas({ pool, schema, tablePrefix })).applied,
          },
        }
        if (o.json) return io.stdout(`${toJson(report)}\n`)
        const { applied } = report
        io.stdout(
          line('store', applied.store, schema, tablePrefix) +
            line('outbox', applied.outbox, schema, tablePrefix) +
            line('projections', applied.projections, schema, tablePrefix) +
            line('sagas', applied.sagas, schema, tablePrefix),
        )
      }, 'optional')
    })
}
