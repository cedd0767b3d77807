// The composition root of the bank demo: `pnpm demo` runs this file (built to dist/main.js).
import { parseDatabaseUrl } from '@annals/store-postgres'
import { assembleBank, type BankParts } from './compose.js'
import { embeddedParts, pgliteParts } from './embedded.js'
import { postgresWriteSide } from './postgres-write-side.js'
import { seedBank } from './seed.js'
import { serverParts } from './servers.js'
import { timeTravelWalkthrough } from './walkthrough.js'

const say = (line = '') => process.stdout.write(`${line}\n`)

async function chooseParts(): Promise<BankParts> {
  if (process.env.DATABASE_URL) {
    // Refuses a malformed URL with a message naming the variable, before the pool would try it.
    const databaseUrl = parseDatabaseUrl(process.env.DATABASE_URL, 'DATABASE_URL').connectionString
    return serverParts(
      {
        databaseUrl,
        redisUrl: process.env.REDIS_URL,
        elasticsearchUrl: process.env.ELASTICSEARCH_URL,
        amqpUrl: process.env.AMQP_URL,
        kafkaBrokers: process.env.KAFKA_BROKERS,
        ...(process.env.BANK_REDIS_PREFIX ? { redisKeyPrefix: process.env.BANK_REDIS_PREFIX } : {}),
        ...(process.env.BANK_INDEX_PREFIX ? { indexPrefix: process.env.BANK_INDEX_PREFIX } : {}),
      },
      (pool, outbox) => postgresWriteSide(pool, outbox),
    )
  }
  if (process.env.BANK_STORE === 'memory') return embeddedParts()
  return pgliteParts(process.env.PGLITE_DIR)
}

async function main(): Promise<void> {
  const parts = await chooseParts()
  say(`Annals bank demo — mode: ${parts.mode}`)
  const bank = await assembleBank(parts, {
    logger: process.env.LOG_LEVEL ? { level: process.env.LOG_LEVEL } : false,
  })
  const shutdown = async () => {
    await bank.close()
    process.exit(0)
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)

  const seed = await seedBank(bank.deps, { days: Number(process.env.SEED_DAYS ?? 14) })
  if (seed.seeded) {
    say(
      `Seeded ${seed.accounts.length} accounts: ${seed.imported} historical events imported from ${seed.from.toISOString()} to now,`,
    )
    for (const t of seed.liveTransfers) {
      say(
        `  live transfer ${t.transferId.slice(0, 8)} through the saga: ${t.status} (${t.steps.map((s) => `${s.name} ${s.status}`).join(', ')})`,
      )
    }
  } else {
    say('Accounts already seeded in this database: keeping them.')
  }

  await bank.readSide.start()
  await bank.readSide.idle()
  say(`Read models: ${bank.deps.readModel.kind} (accounts), ${bank.deps.search.kind} (search) — caught up.`)
  say()
  say((await timeTravelWalkthrough(bank.deps.accounts, seed.showcase, seed.from, new Date())).text)
  say()

  const host = process.env.HOST ?? '127.0.0.1'
  const port = Number(process.env.PORT ?? 3000)
  const address = await bank.app.listen({ host, port })
  say(`The bank is open: ${address}/?account=${seed.showcase.accountId}`)
  say(`API docs (OpenAPI): ${address}/docs`)
  say('Press Ctrl+C to stop.')
}

main().catch((error: unknown) => {
  process.stderr.write(`bank demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exit(1)
})
