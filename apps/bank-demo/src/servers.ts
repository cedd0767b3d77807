import { connectSearchEngine } from '@annals/elasticsearch'
import { type AnyProjection, createProjectionRunner, migrateProjections } from '@annals/projections'
import type { Client } from '@elastic/elasticsearch'
import { Redis } from 'ioredis'
import pg from 'pg'
import { pino } from 'pino'
import type { BankParts, ReadSide, WriteSide } from './compose.js'
import { inMemoryReadSide } from './embedded.js'
import { type HealthCheck, postgresCheck, projectionsCheck, redisCheck, searchCheck } from './health.js'
import { kafkaOutbox } from './kafka-outbox.js'
import { type OutboxTarget, TRANSACTIONS_TOPIC } from './postgres-write-side.js'
import { rabbitMqOutbox } from './rabbitmq-outbox.js'
import { bankProjections } from './read-models/bank-projections.js'
import type { AccountsReadModel, BankSearch } from './read-models/read-model.js'
import { createRedisAccountsReadModel } from './read-models/redis-read-models.js'
import { createElasticsearchBankSearch } from './read-models/search-read-models.js'

/** Where the real servers are and how to keep this bank's data apart from others'. */
export type ServerConfig = Readonly<{
  databaseUrl: string
  /** Without it, account summaries are kept in memory. */
  redisUrl?: string | undefined
  /** Without it, search is served from memory. */
  elasticsearchUrl?: string | undefined
  /** With it, the outbox relay also publishes to RabbitMQ (a topic exchange per outbox topic). */
  amqpUrl?: string | undefined
  /** Comma-separated Kafka brokers: the relay also publishes there (`KAFKA_BROKERS`). */
  kafkaBrokers?: string | undefined
  /** Postgres schema of the projection tables (leases, dead letters). Default `annals`. */
  projectionSchema?: string
  /** Redis key prefix. Default `bank:`. */
  redisKeyPrefix?: string
  /** Elasticsearch index prefix. Default `bank-`. */
  indexPrefix?: string
  /** Log poll interval of the projection runner (LISTEN/NOTIFY wakes it sooner). Default 250 ms. */
  pollIntervalMs?: number
}>

/**
 * The bank on real servers: the given write side, account summaries in Redis and search in
 * Elasticsearch, both kept by @annals/projections workers (leases and dead letters in Postgres).
 */
export async function serverParts(
  config: ServerConfig,
  write: (pool: pg.Pool, outbox: OutboxTarget | undefined) => Promise<WriteSide>,
): Promise<BankParts> {
  // Workers log warnings and errors only, unless LOG_LEVEL asks for more.
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' })
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 20 })
  // An idle client whose connection dies (server restart, admin termination) must not crash the app.
  // node-postgres hangs the whole client (socket, parser, query queue) on the error: log what it says.
  pool.on('error', (error) =>
    logger.warn(
      { err: { message: error.message, code: (error as { code?: string }).code } },
      'idle PostgreSQL client failed',
    ),
  )
  const schema = config.projectionSchema ?? 'annals'
  const releases: (() => Promise<void>)[] = []
  const redis = config.redisUrl ? new Redis(config.redisUrl, { maxRetriesPerRequest: 3 }) : null
  // ioredis reconnects by itself; without a listener every failed attempt is an "unhandled error
  // event". One warning per outage (GET /health reports it while it lasts).
  let redisDown = false
  redis?.on('error', (error) => {
    if (!redisDown) logger.warn({ err: error }, 'Redis connection failed: reconnecting')
    redisDown = true
  })
  redis?.on('ready', () => {
    if (redisDown) logger.info('Redis connection restored')
    redisDown = false
  })
  const redisKeyPrefix = config.redisKeyPrefix ?? 'bank:'
  const brokers = [
    ...(config.amqpUrl ? [await rabbitMqOutbox(config.amqpUrl, TRANSACTIONS_TOPIC, logger)] : []),
    ...(config.kafkaBrokers ? [kafkaOutbox(config.kafkaBrokers, TRANSACTIONS_TOPIC, logger)] : []),
  ]
  const side = await write(
    pool,
    redis || brokers.length > 0
      ? { ...(redis ? { redis } : {}), keyPrefix: redisKeyPrefix, logger, brokers }
      : undefined,
  )
  let accounts: AccountsReadModel | null = null
  let search: BankSearch | null = null
  const described: string[] = [side.describe]
  const health: HealthCheck[] = [postgresCheck((sql) => pool.query(sql))]
  if (redis) health.push(redisCheck(redis))
  let client: Client | null = null
  if (config.elasticsearchUrl) {
    client = await connectSearchEngine(config.elasticsearchUrl)
    const opened = client
    releases.push(() => opened.close())
    health.push(searchCheck(client))
  }
  const indexPrefix = config.indexPrefix ?? 'bank-'
  const defined = bankProjections({ pool, redis, search: client, redisKeyPrefix, indexPrefix, logger })
  const projections: AnyProjection[] = defined.all
  if (redis && defined.accountSummaries) {
    accounts = createRedisAccountsReadModel(redis, defined.accountSummaries)
    described.push('Redis account summaries')
  }
  described.push('Postgres daily activity')
  if (client && defined.search) {
    search = createElasticsearchBankSearch(client, defined.search, indexPrefix)
    described.push('Elasticsearch search')
  }
  // Whatever has no server runs in memory, fed from the same Postgres log.
  const memory = accounts && search ? null : inMemoryReadSide(side.store, config.pollIntervalMs ?? 250)
  if (memory && !accounts) described.push('in-memory account summaries (no REDIS_URL)')
  if (memory && !search) described.push('in-memory search (no ELASTICSEARCH_URL)')

  // The daily activity read model is in Postgres, so there is always a projection runner.
  await migrateProjections({ pool, schema })
  const runner = createProjectionRunner({
    pool,
    schema,
    store: side.store,
    ...(side.watcher ? { watcher: side.watcher } : {}),
    projections,
    pollIntervalMs: config.pollIntervalMs ?? 250,
    controlIntervalMs: 250,
    leaseTtlMs: 5_000,
    logger,
  })
  health.push(projectionsCheck(() => runner.status()))
  health.push(...(side.health ?? []))

  const readSide: ReadSide = {
    accounts: accounts ?? (memory as ReadSide).accounts,
    search: search ?? (memory as ReadSide).search,
    async start() {
      await memory?.start()
      await runner.start()
    },
    async idle() {
      await memory?.idle()
      await runner.waitUntilIdle({ timeoutMs: 60_000 })
    },
    async stop() {
      await runner.stop()
      await memory?.stop()
    },
  }

  return {
    mode: `servers: ${described.join(', ')}`,
    store: side.store,
    snapshots: side.snapshots,
    idempotency: side.idempotency,
    readSide,
    health,
    async release() {
      for (const release of releases) await release()
      await side.release?.()
      await redis?.quit()
      await pool.end()
    },
  }
}
