// A projection worker process for the crash, fencing and takeover tests. Configured by env:
// DATABASE_URL, REDIS_URL, KEY_PREFIX, WORKER_ID, LEASE_TTL_MS, POLL_MS, PARTITIONS, STOP_ON_EVENT (self-SIGSTOP
// before committing a batch that holds an event with data.stop, once both projections reached it).
import { Redis } from 'ioredis'
import pg from 'pg'
import { pino } from 'pino'
import { createProjectionRunner } from '../src/runner/create-projection-runner.js'
import { pgStore } from './store.js'
import { workerProjections } from './worker-projections.js'

const env = process.env
const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 6 })
pool.on('error', () => undefined)
const redis = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const store = pgStore.createPostgresEventStore({ pool, schema: 'annals' })
const watcher = await pgStore.createPostgresLogWatcher({ pool, schema: 'annals' })
const projections = workerProjections({
  pool,
  redis,
  keyPrefix: env.KEY_PREFIX ?? 'annals-worker:',
  version: Number(env.COUNTER_VERSION ?? 1),
  ...(env.PARTITIONS ? { partitions: Number(env.PARTITIONS) } : {}),
})

let arrived = 0
let release: (() => void) | null = null
const barrier = new Promise<void>((resolve) => {
  release = resolve
})
let stopped = false

const runner = createProjectionRunner({
  pool,
  store,
  watcher,
  projections,
  workerId: env.WORKER_ID ?? `worker-${process.pid}`,
  leaseTtlMs: Number(env.LEASE_TTL_MS ?? 2000),
  pollIntervalMs: Number(env.POLL_MS ?? 200),
  batchSize: Number(env.BATCH_SIZE ?? 50),
  rebuildBatchSize: Number(env.REBUILD_BATCH_SIZE ?? 200),
  handleSignals: true,
  logger: pino({ level: 'info', base: { worker: env.WORKER_ID } }),
  hooks: {
    async beforeCommit({ projection, events }) {
      if (env.DEBUG_COMMITS && projection === 'redis-counter') {
        const f = events[0]
        const l = events[events.length - 1]
        process.stdout.write(
          `commit ${events.length} ${f?.transactionId}/${f?.globalPosition}..${l?.transactionId}/${l?.globalPosition}\n`,
        )
      }
      if (!env.STOP_ON_EVENT || stopped) return
      if (!events.some((e) => (e.data as { stop?: boolean }).stop === true)) return
      arrived++
      if (arrived === projections.length) release?.()
      await barrier
      if (!stopped) {
        stopped = true
        process.stdout.write(`${JSON.stringify({ msg: 'self-stopping before commit' })}\n`)
        process.kill(process.pid, 'SIGSTOP')
      }
    },
  },
})
await runner.start()
process.stdout.write(`${JSON.stringify({ msg: 'worker started' })}\n`)
await runner.whenStopped()
await watcher.close()
await pool.end()
redis.disconnect()
process.stdout.write(`${JSON.stringify({ msg: 'worker exiting' })}\n`)
