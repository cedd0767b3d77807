// A saga worker process for the crash tests. Configured by env:
// DATABASE_URL; SCHEMA (event store, saga and projection tables); CRASH_SAGA + CRASH_AT (SIGKILL itself
// at the CRASH_AT-th boundary of that saga instance); CRASH_ON (SIGKILL at the first boundary whose
// `point:eventType` or `point:eventType:step` equals it); LOCK_TTL_MS, LEASE_TTL_MS, POLL_MS;
// DEADLINE_MS (payout deadline); REACTION_LOG, CRASH_AFTER_REACTION (see worker-sagas.ts).
import pg from 'pg'
import { pino } from 'pino'
import type { SagaBoundary } from '../src/engine/saga-engine-types.js'
import { createSagaWorker } from '../src/postgres/saga-worker.js'
import { pgStore } from './store.js'
import { mirrorDeposits, workerSagas } from './worker-sagas.js'

const env = process.env
const schema = env.SCHEMA ?? 'annals'
const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 8 })
pool.on('error', () => undefined)
await pgStore.migrate({ pool, schema })
const store = pgStore.createPostgresEventStore({ pool, schema })
const watcher = await pgStore.createPostgresLogWatcher({ pool, schema })

let boundaries = 0
const crashAt = env.CRASH_AT ? Number(env.CRASH_AT) : 0
function crashHere(b: SagaBoundary): boolean {
  if (env.CRASH_ON) {
    const label = `${b.point}:${b.eventType ?? ''}`
    return env.CRASH_ON === label || env.CRASH_ON === `${label}:${b.step ?? ''}`
  }
  if (crashAt > 0 && b.sagaId === env.CRASH_SAGA) return ++boundaries === crashAt
  return false
}

const worker = createSagaWorker({
  pool,
  schema,
  store,
  watcher,
  sagas: workerSagas,
  reactors: [mirrorDeposits],
  ...(env.WORKER_ID ? { workerId: env.WORKER_ID } : {}),
  pollIntervalMs: Number(env.POLL_MS ?? 100),
  lockTtlMs: Number(env.LOCK_TTL_MS ?? 1000),
  subscriptions: { schema, pollIntervalMs: Number(env.POLL_MS ?? 100), leaseTtlMs: Number(env.LEASE_TTL_MS ?? 1500) },
  logger: pino({ level: env.LOG_LEVEL ?? 'warn' }),
  handleSignals: true,
  hooks: {
    boundary(b) {
      if (crashHere(b)) {
        process.stdout.write(`${JSON.stringify({ msg: 'crashing', ...b })}\n`)
        process.kill(process.pid, 'SIGKILL')
      }
    },
  },
})
await worker.start()
process.stdout.write(`${JSON.stringify({ msg: 'worker started' })}\n`)
process.once('beforeExit', () => {
  void watcher.close()
  void pool.end()
})
