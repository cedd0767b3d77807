import type { Redis } from 'ioredis'
import type pg from 'pg'
import { defineProjection } from '../src/projection.js'
import { createPostgresSink } from '../src/sinks/postgres-sink.js'
import { createRedisSink } from '../src/sinks/redis-sink.js'

type Bumped = { amount: number; stop?: boolean }

/** Two counters (non-idempotent updates): any event applied twice shows up as a wrong count. */
export function workerProjections(options: {
  pool: pg.Pool
  redis: Redis
  keyPrefix: string
  version?: number
  /** Partitions of both projections (absent: unpartitioned). */
  partitions?: number
}) {
  const partitions = options.partitions === undefined ? {} : { partitions: options.partitions }
  return [
    defineProjection({
      name: 'redis-counter',
      version: options.version ?? 1,
      ...partitions,
      handles: ['Bumped'],
      sink: createRedisSink({ redis: options.redis, keyPrefix: options.keyPrefix }),
      handlers: {
        Bumped(e, w) {
          w.hincrby(e.streamId, 'count', 1)
          w.hincrby(e.streamId, 'sum', (e.data as Bumped).amount)
          w.incrby('all', 1)
          w.rpush(`${e.streamId}:log`, `${e.streamVersion}@${e.transactionId}/${e.globalPosition}`)
        },
      },
    }),
    defineProjection({
      name: 'pg-counter',
      version: options.version ?? 1,
      ...partitions,
      handles: ['Bumped'],
      sink: createPostgresSink({
        pool: options.pool,
        schema: 'rm',
        tables: {
          counts: (t) => `CREATE TABLE ${t} (stream text PRIMARY KEY, count bigint NOT NULL, sum bigint NOT NULL)`,
        },
      }),
      async apply(e, { client, table }) {
        const t = table('counts')
        await client.query(
          `INSERT INTO ${t} VALUES ($1, 1, $2) ON CONFLICT (stream) DO UPDATE SET count = ${t}.count + 1, sum = ${t}.sum + excluded.sum`,
          [e.streamId, (e.data as Bumped).amount],
        )
      },
    }),
  ]
}
