import type { AnyProjection } from '@annals/projections'
import type { Client } from '@elastic/elasticsearch'
import type { Redis } from 'ioredis'
import type pg from 'pg'
import type { Logger } from 'pino'
import { dailyActivityProjection } from './activity-projection.js'
import { accountSummariesProjection } from './redis-read-models.js'
import { searchProjections } from './search-read-models.js'

/** Where the bank's read models live: Postgres always, Redis and search when they are configured. */
export type BankProjectionTargets = Readonly<{
  pool: pg.Pool
  redis?: Redis | null
  search?: Client | null
  /** Redis key prefix. Default `bank:`. */
  redisKeyPrefix?: string
  /** Elasticsearch index prefix. Default `bank-`. */
  indexPrefix?: string
  logger?: Logger
}>

/**
 * The bank's projections, one definition for the demo's workers and for `annals.config.ts`, so the
 * CLI lists, inspects and rebuilds exactly what the demo runs.
 */
export function bankProjections(targets: BankProjectionTargets) {
  const accountSummaries = targets.redis
    ? accountSummariesProjection(targets.redis, targets.redisKeyPrefix ?? 'bank:')
    : null
  const search = targets.search
    ? searchProjections(targets.search, targets.indexPrefix ?? 'bank-', targets.logger)
    : null
  const dailyActivity = dailyActivityProjection(targets.pool)
  const all: AnyProjection[] = [
    ...(accountSummaries ? [accountSummaries] : []),
    dailyActivity,
    ...(search ? [search.accounts, search.transactions] : []),
  ]
  return { accountSummaries, search, dailyActivity, all }
}
