import { createCommandHandler, isAnnalsError, isDomainError } from '@annals/core'
import { migrateOutbox } from '@annals/outbox'
import { createRedisReadModel, migrateProjections } from '@annals/projections'
import { createPostgresEventStore, isPgStoreError, migrate } from '@annals/store-postgres'
import { startThrowawayPostgres, type ThrowawayPostgres } from '@annals/store-postgres/testing'
import { type PrivateRedis, type SpawnedProcess, spawnTs, startPrivateRedis, waitFor } from '@annals/test-support'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BankAccount, DepositMoney, OpenAccount, WithdrawMoney } from '../src/accounts/account.js'
import { prng } from '../src/seed.js'
import {
  type Attempt,
  checkStore,
  checkView,
  describeFindings,
  type Findings,
  isClean,
  type Outcome,
  type StoredMovement,
  streamsOf,
} from './history/check-history.js'
import {
  BROKER_PREFIX,
  CONSUMED_TABLE,
  HISTORY_SCHEMA,
  historyPublication,
  PG_PROJECTION,
  READ_SCHEMA,
  REDIS_PREFIX,
  REDIS_PROJECTION,
} from './history/history-model.js'

// The history checker (issue 16): writers append through the bank's command handler for a while
// (HISTORY_SECONDS) while two projection workers, the outbox relay and an idempotent consumer run as
// processes of their own, and faults drawn from a seeded PRNG (HISTORY_SEED, printed) hit them:
// SIGKILLs, terminated backends, one crash of the database, one FLUSHALL of the read models' Redis.
// Then every view must hold exactly the store's movements, once each, in stream order.

const SECONDS = Number(process.env.HISTORY_SECONDS ?? 45)
const SEED = process.env.HISTORY_SEED ? Number(process.env.HISTORY_SEED) : Math.floor(Math.random() * 2 ** 31)
const WRITERS = Number(process.env.HISTORY_WRITERS ?? 12)
const ACCOUNTS = 32
const CATCH_UP_MS = Number(process.env.HISTORY_CATCHUP_SECONDS ?? 150) * 1000
const MOVEMENT_TYPES = ['MoneyDeposited', 'MoneyWithdrawn']

/** A version-4 UUID drawn from the PRNG, so a seed replays the same accounts. */
function uuidFrom(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16))
  hex[12] = '4'
  hex[16] = '8'
  const h = hex.join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

type Role = 'redis-worker' | 'pg-worker' | 'relay' | 'consumer'
const ROLES: readonly Role[] = ['redis-worker', 'pg-worker', 'relay', 'consumer']
type Fault =
  | Readonly<{ at: number; kind: 'kill'; role: Role }>
  | Readonly<{ at: number; kind: 'terminate'; target: Role | 'writers' | 'watchers' }>
  | Readonly<{ at: number; kind: 'restart' | 'flush' }>

/** The fault schedule of a seed: times in ms from the start of the storm. */
function planFaults(random: () => number, durationMs: number): Fault[] {
  const at = (from: number, to: number) => Math.floor(durationMs * (from + random() * (to - from)))
  const restart = at(0.35, 0.6)
  // The FLUSHALL lands well away from the crash, so the loss is noticed by a worker that is up.
  let flush = at(0.1, 0.85)
  while (Math.abs(flush - restart) < Math.min(8000, durationMs / 5)) flush = at(0.1, 0.85)
  const kills: Role[] = ['redis-worker', 'redis-worker', 'pg-worker', 'pg-worker', 'relay', 'relay', 'consumer']
  for (let i = 0; i < 2; i++) kills.push(ROLES[Math.floor(random() * ROLES.length)] as Role)
  const targets = [...ROLES, 'writers', 'watchers'] as const
  const faults: Fault[] = [
    { at: restart, kind: 'restart' },
    { at: flush, kind: 'flush' },
    ...kills.map((role): Fault => ({ at: at(0.05, 0.9), kind: 'kill', role })),
    // Appends cut mid-flight: the writers' own sessions, so some answers are "unknown".
    ...Array.from({ length: 4 }, (): Fault => ({ at: at(0.05, 0.9), kind: 'terminate', target: 'writers' })),
    ...Array.from(
      { length: 10 },
      (): Fault => ({
        at: at(0.05, 0.9),
        kind: 'terminate',
        target: targets[Math.floor(random() * targets.length)] as (typeof targets)[number],
      }),
    ),
  ]
  return faults.sort((a, b) => a.at - b.at)
}

let server: ThrowawayPostgres
let readRedis: PrivateRedis
let broker: PrivateRedis
let pool: pg.Pool
let writerPool: pg.Pool
let redis: Redis

/** The throwaway server's URL with a session name, so faults can pick a process's backends. */
const urlFor = (applicationName: string) => `${server.connectionString}?application_name=${applicationName}`

beforeAll(async () => {
  // Durable commits: with synchronous_commit off the crashed server itself would lose commits it
  // acknowledged, and the checker would blame the store.
  server = await startThrowawayPostgres({ durableCommits: true })
  readRedis = await startPrivateRedis()
  // The broker's streams live apart from the read models: FLUSHALL stands for a read-model Redis that
  // lost its data, not for a broker that lost published messages (no outbox can survive that).
  broker = await startPrivateRedis()
  pool = new pg.Pool({ connectionString: urlFor('hc-checker'), max: 4 })
  pool.on('error', () => undefined)
  writerPool = new pg.Pool({ connectionString: urlFor('hc-writers'), max: WRITERS })
  writerPool.on('error', () => undefined)
  redis = new Redis(readRedis.url, { maxRetriesPerRequest: 5 })
  await migrate({ pool, schema: HISTORY_SCHEMA })
  await migrateOutbox({ pool, schema: HISTORY_SCHEMA })
  await migrateProjections({ pool })
  await pool.query(
    `CREATE TABLE ${CONSUMED_TABLE} (ord bigserial PRIMARY KEY, message_id uuid NOT NULL, stream_id text NOT NULL, uid text NOT NULL)`,
  )
}, 120_000)

afterAll(async () => {
  redis?.disconnect()
  await writerPool?.end().catch(() => undefined)
  await pool?.end().catch(() => undefined)
  await broker?.stop()
  await readRedis?.stop()
  await server?.stop()
})

/** Runs the four processes, respawning the ones that die; records deaths it did not cause. */
function createSupervisor() {
  const files: Record<Role, string> = {
    'redis-worker': new URL('./history/projection-worker.ts', import.meta.url).pathname,
    'pg-worker': new URL('./history/projection-worker.ts', import.meta.url).pathname,
    relay: new URL('../../../packages/outbox/test/workers/relay-worker.ts', import.meta.url).pathname,
    consumer: new URL('./history/consumer-worker.ts', import.meta.url).pathname,
  }
  let n = 0
  const envOf = (role: Role): Record<string, string> => {
    n += 1
    switch (role) {
      case 'redis-worker':
        return {
          DATABASE_URL: urlFor('hc-redis-worker'),
          REDIS_URL: readRedis.url,
          PROJECTION: 'redis',
          WORKER_ID: `redis-${n}`,
        }
      case 'pg-worker':
        return {
          DATABASE_URL: urlFor('hc-pg-worker'),
          REDIS_URL: readRedis.url,
          PROJECTION: 'pg',
          WORKER_ID: `pg-${n}`,
        }
      case 'relay':
        return {
          DATABASE_URL: urlFor('hc-relay'),
          OUTBOX_SCHEMA: HISTORY_SCHEMA,
          REDIS_PREFIX: BROKER_PREFIX,
          RELAY_ID: `relay-${n}`,
          ANNALS_TEST_REDIS_URL: broker.url,
          BATCH_SIZE: '20',
          PUBLISH_DELAY_MS: '5',
        }
      case 'consumer':
        return { DATABASE_URL: urlFor('hc-consumer'), BROKER_URL: broker.url }
    }
  }
  const current = new Map<Role, { process: SpawnedProcess; startedAt: number }>()
  const all: { role: Role; process: SpawnedProcess }[] = []
  const killed = new Set<SpawnedProcess>()
  const unexpectedExits: string[] = []
  let stopping = false
  const start = (role: Role) => {
    const process = spawnTs(files[role], { env: envOf(role) })
    current.set(role, { process, startedAt: Date.now() })
    all.push({ role, process })
    void process.exited.then(({ code, signal }) => {
      if (killed.has(process) || stopping) return
      unexpectedExits.push(`${role} exited (code ${code}, signal ${signal}): ${process.output().slice(-2000)}`)
      if (current.get(role)?.process === process) start(role)
    })
  }
  return {
    start,
    ready: (role: Role) => current.get(role)?.process.lines.includes('READY') ?? false,
    startedAt: (role: Role) => current.get(role)?.startedAt ?? Number.POSITIVE_INFINITY,
    async kill(role: Role, respawnAfterMs: number) {
      const entry = current.get(role)
      if (!entry) return
      current.delete(role)
      killed.add(entry.process)
      await entry.process.kill()
      await sleep(respawnAfterMs)
      if (!stopping) start(role)
    },
    /** Sum of the last `LOST n` line of each incarnation of a role. */
    checkpointsLost: (role: Role) =>
      all
        .filter((x) => x.role === role)
        .reduce((sum, x) => {
          const last = x.process.lines.filter((l) => l.startsWith('LOST ')).pop()
          return sum + (last ? Number(last.slice(5)) : 0)
        }, 0),
    output: (role: Role) => current.get(role)?.process.output().slice(-3000) ?? '(not running)',
    unexpectedExits,
    async stopAll() {
      stopping = true
      for (const { process } of all) killed.add(process)
      await Promise.all(all.map(({ process }) => process.kill()))
    },
  }
}

/** The store's movements (the checker's own session, never a fault's target). */
async function storedMovements(): Promise<(StoredMovement & { amount: number })[]> {
  const { rows } = await pool.query<{ stream_id: string; stream_version: string; uid: string; amount: number }>(
    `SELECT stream_id, stream_version::text, data->>'description' AS uid,
            CASE WHEN type = 'MoneyDeposited' THEN 1 ELSE -1 END * (data->>'amount')::bigint AS amount
       FROM ${HISTORY_SCHEMA}.events WHERE type = ANY($1::text[])`,
    [MOVEMENT_TYPES],
  )
  return rows.map((r) => ({
    streamId: r.stream_id,
    version: BigInt(r.stream_version),
    uid: r.uid,
    amount: Number(r.amount),
  }))
}

/** Movement ids per stream, in the order a table recorded their application. */
async function viewOfTable(table: string): Promise<Map<string, string[]>> {
  const { rows } = await pool.query<{ stream_id: string; uid: string }>(
    `SELECT stream_id, uid FROM ${table} ORDER BY ord`,
  )
  const view = new Map<string, string[]>()
  for (const r of rows) view.set(r.stream_id, [...(view.get(r.stream_id) ?? []), r.uid])
  return view
}

describe('history checker (bank movements under faults: throwaway Postgres, private Redis, worker processes)', () => {
  it(
    'every acknowledged movement is stored and applied exactly once, in stream order, by both read models and the consumer',
    async () => {
      console.log(`history checker: HISTORY_SEED=${SEED} HISTORY_SECONDS=${SECONDS} writers=${WRITERS}`)
      const random = prng(SEED)
      const store = createPostgresEventStore({
        pool: writerPool,
        schema: HISTORY_SCHEMA,
        outbox: { publish: historyPublication },
      })
      const handler = createCommandHandler(BankAccount, { store, retry: { maxAttempts: 10 } })
      const accounts = Array.from({ length: ACCOUNTS }, () => uuidFrom(random))
      for (const [i, accountId] of accounts.entries()) {
        await handler.handle(OpenAccount.create({ accountId, owner: `history ${i}`, currency: 'EUR' }))
      }
      const supervisor = createSupervisor()
      for (const role of ROLES) supervisor.start(role)
      await waitFor('the workers, relay and consumer to start', () => ROLES.every((r) => supervisor.ready(r)), 90_000)

      const durationMs = SECONDS * 1000
      const faults = planFaults(random, durationMs)
      const startedAt = Date.now()
      const endsAt = startedAt + durationMs
      const attempts: Attempt[] = []
      const errorCodes = new Map<string, number>()
      const count = { unknownAnswers: 0, resent: 0, kills: 0, terminated: 0, restarts: 0, flushes: 0 }
      const knownVersion = new Map<string, bigint>()

      const indeterminate = (error: unknown) => isPgStoreError(error, 'ANNALS_PG_ERR_APPEND_OUTCOME_UNKNOWN')

      async function writer(index: number): Promise<void> {
        const r = prng(SEED ^ ((index + 1) * 0x9e3779b1))
        for (let seq = 0; Date.now() < endsAt; seq++) {
          const accountId = accounts[Math.floor(r() * accounts.length)] as string
          const streamId = `account-${accountId}`
          const uid = `w${index}-${seq}`
          const data = { accountId, amount: 1 + Math.floor(r() * 100), description: uid }
          const command =
            r() < 0.6
              ? DepositMoney.create(data, { idempotencyKey: uid })
              : WithdrawMoney.create(data, { idempotencyKey: uid })
          const seen = knownVersion.get(streamId)
          // Some commands carry the version the writer last saw: a race is then a typed conflict.
          const options = seen !== undefined && r() < 0.25 ? { expectedVersion: seen } : {}
          let outcome: Outcome
          try {
            const result = await handler.handle(command, options)
            knownVersion.set(streamId, result.version)
            outcome = 'acknowledged'
          } catch (error) {
            // A typed answer is counted by its code; anything else escaped the store untranslated.
            const code =
              isAnnalsError(error) || isDomainError(error)
                ? (error as { code: string }).code
                : `untyped: ${String(error).slice(0, 80)}`
            errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1)
            outcome = indeterminate(error) ? 'indeterminate' : 'failed'
            if (outcome === 'indeterminate') count.unknownAnswers++
            // Half the clients told "unknown" re-send the same keyed command, as the error says to (the
            // command handler finds its own events if the first try committed); the other half give up,
            // so some outcomes stay open and "at most once" is judged too.
            const resend = outcome === 'indeterminate' && r() < 0.5
            if (resend) count.resent++
            for (let retry = 0; resend && outcome === 'indeterminate' && retry < 4; retry++) {
              await sleep(300 * 2 ** retry)
              try {
                const result = await handler.handle(command)
                knownVersion.set(streamId, result.version)
                outcome = 'acknowledged'
              } catch (again) {
                // Only another unknown or a connection failure leaves the first try's fate open.
                if (!isPgStoreError(again)) break
              }
            }
          }
          attempts.push({ uid, writer: index, seq, streamId, outcome })
          await sleep(r() * 240)
        }
      }

      async function runFaults(): Promise<void> {
        let protectedUntil = 0
        for (const fault of faults) {
          await sleep(Math.max(0, startedAt + fault.at - Date.now()))
          switch (fault.kind) {
            case 'kill': {
              // The Redis worker that saw the FLUSHALL must live long enough to notice and count it.
              if (fault.role === 'redis-worker') await sleep(Math.max(0, protectedUntil - Date.now()))
              count.kills++
              void supervisor.kill(fault.role, 200 + Math.floor(random() * 1300))
              break
            }
            case 'terminate': {
              const names =
                fault.target === 'writers'
                  ? ['hc-writers']
                  : fault.target === 'watchers'
                    ? ['annals-log-watcher']
                    : [`hc-${fault.target}`]
              const { rowCount } = await pool
                .query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ANY($1)', [
                  names,
                ])
                .catch(() => ({ rowCount: 0 }))
              count.terminated += rowCount ?? 0
              break
            }
            case 'restart':
              await server.restart('immediate')
              count.restarts++
              break
            case 'flush':
              await waitFor(
                'a Redis worker that has been up for 2 s',
                () => supervisor.ready('redis-worker') && Date.now() - supervisor.startedAt('redis-worker') > 2000,
                30_000,
              )
              await redis.flushall()
              count.flushes++
              protectedUntil = Date.now() + 8000
              break
          }
        }
      }

      const faulting = runFaults()
      await Promise.all(Array.from({ length: WRITERS }, (_, i) => writer(i)))
      await faulting
      // Respawns still pending finish before the catch-up is judged.
      await waitFor('every process to be up again', () => ROLES.every((r) => supervisor.ready(r)), 90_000)

      const tally = (o: Outcome) => attempts.filter((a) => a.outcome === o).length
      let stored: Awaited<ReturnType<typeof storedMovements>> = []
      let expected = new Map<string, string[]>()
      const redisModel = createRedisReadModel(redis, REDIS_PROJECTION, { keyPrefix: REDIS_PREFIX })
      const views = async () => {
        const redisView = new Map<string, string[]>()
        for (const streamId of expected.keys())
          redisView.set(streamId, await redisModel.lrange(`${streamId}:log`, 0, -1))
        return {
          [`Redis read model (${REDIS_PROJECTION})`]: redisView,
          [`Postgres read model (${PG_PROJECTION})`]: await viewOfTable(`${READ_SCHEMA}.applied`),
          'idempotent consumer': await viewOfTable(CONSUMED_TABLE),
        }
      }
      let findings: Record<string, Findings> = {}
      try {
        await waitFor(
          'every view to hold every stored movement',
          async () => {
            stored = await storedMovements()
            expected = streamsOf(stored)
            findings = Object.fromEntries(Object.entries(await views()).map(([k, v]) => [k, checkView(expected, v)]))
            return Object.values(findings).every((f) => f.lost.length === 0)
          },
          { timeoutMs: CATCH_UP_MS, everyMs: 500 },
        )
        // Anything applied twice late (a redelivery after the catch-up) shows up here.
        await sleep(1500)
      } catch {
        // Judged below, with what is missing named.
      }
      stored = await storedMovements()
      expected = streamsOf(stored)
      findings = {
        store: checkStore(attempts, stored),
        ...Object.fromEntries(Object.entries(await views()).map(([k, v]) => [k, checkView(expected, v)])),
      }
      // The Redis model's balances must equal a fold of the store's streams.
      const balances = new Map<string, number>()
      for (const m of stored) balances.set(m.streamId, (balances.get(m.streamId) ?? 0) + m.amount)
      const wrongBalances: string[] = []
      for (const [streamId, balance] of balances) {
        const got = Number((await redisModel.hget(streamId, 'balance')) ?? 0)
        if (got !== balance) wrongBalances.push(`${streamId}: ${got} instead of ${balance}`)
      }
      const lostRedis = supervisor.checkpointsLost('redis-worker')
      const lostPg = supervisor.checkpointsLost('pg-worker')
      const sum = (kind: keyof Findings) => Object.values(findings).reduce((n, f) => n + f[kind].length, 0)
      const storedUids = new Set(stored.map((m) => m.uid))
      const summary = {
        seed: SEED,
        seconds: SECONDS,
        writers: WRITERS,
        stored: stored.length,
        acknowledged: tally('acknowledged'),
        failed: tally('failed'),
        indeterminate: tally('indeterminate'),
        indeterminateStored: attempts.filter((a) => a.outcome === 'indeterminate' && storedUids.has(a.uid)).length,
        lost: sum('lost'),
        duplicated: sum('duplicated'),
        reordered: sum('reordered'),
        unexpected: sum('unexpected'),
        wrongBalances: wrongBalances.length,
        ...count,
        checkpointLost: { redis: lostRedis, pg: lostPg },
        unexpectedExits: supervisor.unexpectedExits.length,
        errors: Object.fromEntries(errorCodes),
      }
      console.log(`HISTORY ${JSON.stringify(summary)}`)
      const problems = [
        ...Object.entries(findings)
          .filter(([, f]) => !isClean(f))
          .map(([place, f]) => describeFindings(place, f)),
        ...wrongBalances.slice(0, 10).map((w) => `Redis balance ${w}`),
        ...supervisor.unexpectedExits,
        ...(count.restarts === 1 ? [] : [`the database was restarted ${count.restarts} times, not once`]),
        ...(count.flushes === 1 ? [] : [`Redis was flushed ${count.flushes} times, not once`]),
        ...(lostRedis >= 1 ? [] : ['the Redis worker never counted the lost checkpoint after the FLUSHALL']),
        ...(lostPg === 0 ? [] : [`the Postgres worker counted ${lostPg} lost checkpoints (none were lost)`]),
      ]
      await supervisor.stopAll()
      if (problems.length > 0) {
        console.log(
          `history checker failed (HISTORY_SEED=${SEED}); Redis worker output:\n${supervisor.output('redis-worker')}`,
        )
      }
      expect(problems, `history checker, HISTORY_SEED=${SEED}`).toEqual([])
      // A storm that hardly wrote or hit nothing proves nothing.
      expect(summary.acknowledged).toBeGreaterThan(SECONDS * 20)
      expect(count.kills).toBeGreaterThanOrEqual(9)
    },
    (SECONDS + CATCH_UP_MS / 1000 + 240) * 1000,
  )
})
