import { createProjectionRunner, createRedisReadModel, createRedisSink, migrateProjections } from '@annals/projections'
import { newEvents } from '../lib/annals-events.js'
import { PROJECTIONS_SCHEMA, redisBalances } from '../lib/annals-projections.js'
import { openAnnals } from '../lib/annals-store.js'
import { type BenchContext, libraryLogger, progress } from '../lib/context.js'
import { createDatabase, createRedis, runCleanups } from '../lib/services.js'
import { latencyPercentiles, nowMs, summarize } from '../lib/stats.js'

const RATE = 500
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)))

/**
 * Append-to-visible latency: appends at a steady 500/s (open loop: each append starts on its own
 * schedule, whatever the previous ones do), each to a new stream; a live projection runner (woken by
 * the store's log watcher) writes a Redis hash per stream; a poller reads the read model through
 * `createRedisReadModel` every millisecond. Latency = first successful read − append call.
 * The figure includes up to ~1 ms of polling granularity.
 */
export async function run(ctx: BenchContext): Promise<void> {
  const s = ctx.sizes
  try {
    const db = await createDatabase('annals_visible')
    const { store, pool, watcher } = await openAnnals(db, 8)
    if (!watcher) ctx.notes.push('append-to-visible: no log watcher from @annals/store-postgres, the runner polls')
    await migrateProjections({ pool, schema: PROJECTIONS_SCHEMA })
    const redis = await createRedis('annals_visible')
    const projection = redisBalances('visible', createRedisSink({ redis: redis.client, keyPrefix: redis.prefix }))
    const runner = createProjectionRunner({
      pool,
      schema: PROJECTIONS_SCHEMA,
      store,
      ...(watcher ? { watcher } : {}),
      projections: [projection],
      logger: libraryLogger(),
    })
    const reader = createRedisReadModel(redis.connect(), projection)
    await store.appendToStream('warm-0', newEvents('warm-0', 1, 1))
    await runner.start()
    try {
      await runner.waitUntilIdle({ timeoutMs: 60_000 })
      const p50s: number[] = []
      const p99s: number[] = []
      let seq = 0
      let lost = 0
      const rates: number[] = []
      // The append's own latency (call to commit acknowledged), to tell store time from projection time.
      const commitP50s: number[] = []
      for (let run = ctx.sizes.warmup ? -1 : 0; run < s.longRuns; run++) {
        const n = Math.round((s.visibleMs / 1000) * RATE)
        progress(`annals visible: run ${run + 1}, ${n} appends at ${RATE}/s`)
        const pending = new Map<string, number>()
        const latencies: number[] = []
        const commits: number[] = []
        let appending = true
        const appendErrors: unknown[] = []
        const poller = (async () => {
          while (appending || pending.size > 0) {
            if (pending.size > 0) {
              // The oldest few only (the projection follows the log in order): a lagging projection must
              // not turn the poller into load that slows the appends it is waiting for.
              const keys: string[] = []
              for (const k of pending.keys()) {
                keys.push(k)
                if (keys.length === 16) break
              }
              const values = await Promise.all(keys.map((k) => reader.hget(k, 'balance')))
              const now = nowMs()
              keys.forEach((k, i) => {
                if (values[i] !== null) {
                  latencies.push(now - pending.get(k)!)
                  pending.delete(k)
                }
              })
              // A projection that stalls must not hang the bench.
              for (const [k, t0] of pending) {
                if (now - t0 > 30_000) {
                  pending.delete(k)
                  lost++
                }
              }
            }
            await sleep(1)
          }
        })()
        const start = nowMs()
        const inflight: Promise<void>[] = []
        for (let i = 0; i < n; i++) {
          await sleep(start + (i * 1000) / RATE - nowMs())
          const id = `vis-${seq++}`
          const t0 = nowMs()
          inflight.push(
            store.appendToStream(id, newEvents(id, 1, 1)).then(
              () => {
                commits.push(nowMs() - t0)
                pending.set(id, t0)
              },
              (error: unknown) => {
                appendErrors.push(error)
              },
            ),
          )
        }
        await Promise.all(inflight)
        const achieved = (n / (nowMs() - start)) * 1000
        appending = false
        await poller
        if (appendErrors.length > 0) throw appendErrors[0]
        if (run < 0) continue
        rates.push(achieved)
        commitP50s.push(latencyPercentiles(commits).p50)
        const p = latencyPercentiles(latencies)
        p50s.push(p.p50)
        p99s.push(p.p99)
        progress(
          `  run ${run + 1}: p50 ${p.p50.toFixed(2)} ms, p99 ${p.p99.toFixed(2)} ms, ${achieved.toFixed(0)} appends/s`,
        )
      }
      if (lost > 0) throw new Error(`${lost} appends never became visible within 30 s`)
      const note = `${Math.round((s.visibleMs / 1000) * RATE)} appends/run, achieved ${rates.map((r) => r.toFixed(0)).join('/')} appends/s, append itself p50 ${commitP50s.map((c) => c.toFixed(1)).join('/')} ms`
      ctx.record('visible.p50', 'annals', 'ms', summarize(p50s), note)
      ctx.record('visible.p99', 'annals', 'ms', summarize(p99s), note)
    } finally {
      await runner.stop()
    }
  } finally {
    await runCleanups(progress)
  }
}
