import { Command } from 'commander'
import pg from 'pg'
import { migrateOutbox } from './migrate-outbox.js'
import { getOutboxStatus, listDeadMessages, retryDeadMessages } from './outbox-admin.js'

type Common = { databaseUrl?: string; schema: string; tablePrefix: string; json?: boolean }

function jsonText(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)
}

async function withPool<T>(opts: Common, run: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const connectionString = opts.databaseUrl ?? process.env.DATABASE_URL
  const pool = new pg.Pool(connectionString ? { connectionString, max: 2 } : { max: 2 })
  try {
    return await run(pool)
  } finally {
    await pool.end()
  }
}

function common(command: Command): Command {
  return command
    .option('--database-url <url>', 'PostgreSQL connection string (default: $DATABASE_URL, then PG* variables)')
    .option('--schema <name>', 'schema holding the outbox', 'annals')
    .option('--table-prefix <prefix>', 'table name prefix', '')
    .option('--json', 'print JSON')
}

/** Builds the `annals-outbox` command line (status, dead, retry, migrate). */
export function createOutboxCli(): Command {
  const program = new Command('annals-outbox').description('Inspect and repair an Annals outbox')
  common(program.command('status').description('backlog size, oldest pending age, dead count')).action(
    async (opts: Common) => {
      const status = await withPool(opts, (pool) =>
        getOutboxStatus({ pool, schema: opts.schema, tablePrefix: opts.tablePrefix }),
      )
      if (opts.json) process.stdout.write(`${jsonText(status)}\n`)
      else {
        const age = status.oldestPendingAgeMs === null ? '-' : `${(status.oldestPendingAgeMs / 1000).toFixed(1)}s`
        process.stdout.write(
          `pending: ${status.pending}\noldest pending age: ${age}\ndead: ${status.dead}\nsent (retained): ${status.sentRetained}\n`,
        )
      }
    },
  )
  common(program.command('dead').description('list dead messages'))
    .option('--limit <n>', 'at most this many', '100')
    .action(async (opts: Common & { limit: string }) => {
      const dead = await withPool(opts, (pool) =>
        listDeadMessages({ pool, schema: opts.schema, tablePrefix: opts.tablePrefix, limit: Number(opts.limit) }),
      )
      if (opts.json) process.stdout.write(`${jsonText(dead)}\n`)
      else
        for (const m of dead) {
          process.stdout.write(
            `${m.messageId}  ${m.topic}  key=${m.partitionKey}  ${m.type}  attempts=${m.attempts}  ${m.lastError ?? ''}\n`,
          )
        }
    })
  common(program.command('retry').description('put dead messages back in line'))
    .option('--id <messageId...>', 'only these message ids (default: all dead messages)')
    .action(async (opts: Common & { id?: string[] }) => {
      const result = await withPool(opts, (pool) =>
        retryDeadMessages({
          pool,
          schema: opts.schema,
          tablePrefix: opts.tablePrefix,
          ...(opts.id ? { messageIds: opts.id } : {}),
        }),
      )
      process.stdout.write(opts.json ? `${jsonText(result)}\n` : `retried: ${result.retried}\n`)
    })
  common(program.command('migrate').description('create or upgrade the outbox tables')).action(async (opts: Common) => {
    const result = await withPool(opts, (pool) =>
      migrateOutbox({ pool, schema: opts.schema, tablePrefix: opts.tablePrefix }),
    )
    process.stdout.write(opts.json ? `${jsonText(result)}\n` : `applied: ${result.applied.join(', ') || 'none'}\n`)
  })
  return program
}
