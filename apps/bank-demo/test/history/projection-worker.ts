// One projection worker process of the history checker. Env: DATABASE_URL, REDIS_URL, PROJECTION
// (redis | pg), WORKER_ID. Prints `LOST <n>` whenever its checkpoint-lost counter changes, so the test
// can tell that a FLUSHALL was noticed and counted (the process may be SIGKILLed at any moment).
import { createProjectionRunner } from '@annals/projections'
import { createPostgresEventStore, createPostgresLogWatcher } from '@annals/store-postgres'
import { Redis } from 'ioredis'
import pg from 'pg'
import { pino } from 'pino'
import { HISTORY_SCHEMA, pgHistoryProjection, redisHistoryProjection } from './history-model.js'

const env = process.env
const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 4 })
pool.on('error', () => undefined)
const redis = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379')
redis.on('error', () => undefined)
const store = createPostgresEventStore({ pool, schema: HISTORY_SCHEMA })
const watcher = createPostgresLogWatcher({ pool, schema: HISTORY_SCHEMA })
const projection = env.PROJECTION === 'pg' ? pgHistoryProjection(pool) : redisHistoryProjection(redis)
const runner = createProjectionRunner({
  pool,
  store,
  watcher,
  projections: [projection],
  workerId: env.WORKER_ID ?? `worker-${process.pid}`,
  leaseTtlMs: 2000,
  pollIntervalMs: 100,
  controlIntervalMs: 250,
  handleSignals: true,
  logger: pino({ level: 'warn', base: { worker: env.WORKER_ID } }),
})
await runner.start()
process.stdout.write('READY\n')

let reported = 0
const lostCounter = runner.metrics.getSingleMetric('annals_projection_checkpoint_lost_total')
const report = setInterval(async () => {
  const values = (await lostCounter?.get())?.values ?? []
  const total = values.reduce((sum, v) => sum + v.value, 0)
  if (total !== reported) {
    reported = total
    process.stdout.write(`LOST ${total}\n`)
  }
}, 50)

await runner.whenStopped()
clearInterval(report)
await watcher.close()
await pool.end()
redis.disconnect()
