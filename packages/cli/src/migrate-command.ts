import { migrateProjections } from '@annals/projections'
import { validateSchemaName, validateTablePrefix } from '@annals/store-postgres/sql'
import type { Command } from 'commander'
import type { LoadIfInstalled } from './optional-packages.js'
import { toJson } from './output.js'
import {
  type CliIo,
  openStore,
  prefixedCommand,
  type TablePrefixOptions,
  tablePrefixOf,
  type WithSession,
} from './session.js'

/**
 * The migrations `annals migrate` applied, per package. `store` is null when the config's store
 * migrated itself; `outbox` and `sagas` are null when `@annals/outbox` or `@annals/sagas` (optional
 * peer dependencies of the CLI) is not installed, so their tables were not created.
 */
export type MigrateReport = Readonly<{
  schema: string
  tablePrefix: string
  applied: Readonly<{
    store: readonly string[] | null
    outbox: readonly string[] | null
    projections: readonly string[]
    sagas: readonly string[] | null
  }>
}>

const notInstalled = (packageName: string) => `skipped, ${packageName} is not installed`

/** One line of the report; `applied` null prints `ifNull` (why the package applied nothing here). */
function line(
  what: string,
  applied: readonly string[] | null,
  ifNull: string,
  schema: string,
  tablePrefix: string,
): string {
  if (applied === null) return `${what}: ${ifNull}\n`
  if (applied.length === 0) return `${what}: schema "${schema}" is up to date\n`
  const prefix = tablePrefix ? ` (table prefix "${tablePrefix}")` : ''
  return `${what}: applied ${applied.join(', ')} in schema "${schema}"${prefix}\n`
}

/** Adds `annals migrate`: every Annals package's tables in one schema, safe to re-run. */
export function addMigrateCommand(
  program: Command,
  io: CliIo,
  withSession: WithSession,
  loadIfInstalled: LoadIfInstalled,
): void {
  prefixedCommand(
    program,
    'migrate',
    'create or upgrade the tables of the event store, the projections, the outbox and the sagas (the last two when installed)',
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
        // Both are optional peers: their tables are created exactly when their commands can run.
        const outbox = await loadIfInstalled('@annals/outbox')
        const sagas = await loadIfInstalled('@annals/sagas/postgres')
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
            outbox: outbox ? (await outbox.migrateOutbox({ pool, schema, tablePrefix })).applied : null,
            projections: (await migrateProjections({ pool, schema, tablePrefix })).applied,
            sagas: sagas ? (await sagas.migrateSagas({ pool, schema, tablePrefix })).applied : null,
          },
        }
        if (o.json) return io.stdout(`${toJson(report)}\n`)
        const { applied } = report
        io.stdout(
          line('store', applied.store, "migrated by the config's store", schema, tablePrefix) +
            line('outbox', applied.outbox, notInstalled('@annals/outbox'), schema, tablePrefix) +
            line('projections', applied.projections, '', schema, tablePrefix) +
            line('sagas', applied.sagas, notInstalled('@annals/sagas'), schema, tablePrefix),
        )
      }, 'optional')
    })
}
