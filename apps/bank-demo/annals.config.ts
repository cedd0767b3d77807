// The bank demo's projections for the `annals` CLI: `pnpm annals projections list|status|rebuild <name>`
// at the repository root works on what the demo runs against DATABASE_URL, REDIS_URL and ELASTICSEARCH_URL.
import type { AnnalsConfigExport } from '@annals/cli'
import { connectSearchEngine } from '@annals/elasticsearch'
import { createPostgresEventStore, migrate } from '@annals/store-postgres'
import { bankProjections } from './src/read-models/bank-projections.js'

// The demo's event store lives in schema `bank`; its projection tables in `annals` (the CLI's default).
const STORE_SCHEMA = 'bank'

const config: AnnalsConfigExport = async ({ pool, redis, env }) => {
  const search = env.ELASTICSEARCH_URL ? await connectSearchEngine(env.ELASTICSEARCH_URL) : null
  const { all } = bankProjections({
    pool,
    redis: env.REDIS_URL ? redis() : null,
    search,
    ...(env.BANK_REDIS_PREFIX ? { redisKeyPrefix: env.BANK_REDIS_PREFIX } : {}),
    ...(env.BANK_INDEX_PREFIX ? { indexPrefix: env.BANK_INDEX_PREFIX } : {}),
  })
  return {
    projections: all,
    // No log watcher: it would hold one of the CLI's pool clients, and the CLI's pool closes only when all are back.
    store: {
      eventStore: createPostgresEventStore({ pool, schema: STORE_SCHEMA }),
      migrate: () => migrate({ pool, schema: STORE_SCHEMA }),
    },
  }
}

export default config
