// The checkout story, runnable: `pnpm example:checkout` (PostgreSQL on DATABASE_URL, Redis on REDIS_URL).
// Prints a timeline of a 10,000-order burst: checkout latency, consumer lag rising and draining.
import { performance } from 'node:perf_hooks'
import { migrateOutbox } from '@annals/outbox'
import { migrate, parseDatabaseUrl } from '@annals/store-postgres'
import { Redis } from 'ioredis'
import pg from 'pg'
import { createOrderConsumer, createOrderService, deadLetters, type Order, percentile } from './checkout.js'

const BURST = Number(process.env.BURST ?? 10_000)
const { connectionString } = parseDatabaseUrl(
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  'DATABASE_URL',
)
const pool = new pg.Pool({ connectionString, max: 20 })
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const keyPrefix = `checkout-example:${Date.now().toString(36)}`
const schema = 'annals'
await migrate({ pool, schema })
await migrateOutbox({ pool, schema })
const options = { pool, redis, keyPrefix }
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const order = (i: number, customer = `c${i}@example.com`): Order => ({
  orderId: `${keyPrefix}-${i}`,
  customer,
  sku: `sku-${i % 50}`,
  quantity: 1 + (i % 3),
})

const service = createOrderService(options)
service.relay.start()
let warehouseFixed = false
// Each consumer does a little work per order (a call to its own system), so each has a sustainable rate.
const work = (ms: number) => () => sleep(ms)
const consumers = {
  email: createOrderConsumer({ ...options, group: 'email', handle: work(1) }),
  inventory: createOrderConsumer({ ...options, group: 'inventory', handle: () => {} }),
  warehouse: createOrderConsumer({
    ...options,
    group: 'warehouse',
    handle: (o) => {
      if (o.customer === 'poison' && !warehouseFixed) throw new Error('warehouse cannot ship to "poison"')
    },
  }),
  analytics: createOrderConsumer({ ...options, group: 'analytics', handle: () => {} }),
}
for (const c of Object.values(consumers)) c.start()
let placed = 0
const place = async (o: Order) => {
  const r = await service.placeOrder(o)
  placed++
  return r
}
const waitUntil = async (what: string, done: () => boolean, timeoutMs = 120_000) => {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(20)
  }
}

console.log(`1. ${(await place(order(0))).answer} (order 0); email, inventory, warehouse, analytics each receive it:`)
await waitUntil('all four', () => Object.values(consumers).every((c) => c.handled.has(order(0).orderId)))
console.log('   received by', Object.keys(consumers).join(', '))

const fraud = createOrderConsumer({ ...options, group: 'fraud', handle: () => {} })
fraud.start()
await waitUntil('fraud', () => fraud.handled.has(order(0).orderId))
console.log(
  '2. fraud-detection added (a new consumer group, no change to the producer): it read order 0 from the stream',
)

await consumers.email.stop()
const down: number[] = []
for (let i = 1; i <= 200; i++) down.push((await place(order(i))).ms)
console.log(
  `3. email down: 200 orders placed meanwhile, checkout p50 ${percentile(down, 50).toFixed(1)} ms, p99 ${percentile(down, 99).toFixed(1)} ms`,
)
const email = createOrderConsumer({ ...options, group: 'email', handle: work(1) })
email.start()
await waitUntil('email catch-up', () => email.handled.size >= 200)
console.log('   email back: caught up with the 200 orders it missed')

const all = { ...consumers, email, fraud }
const base = Object.fromEntries(Object.entries(all).map(([name, c]) => [name, c.handled.size]))
// Lag of a group = burst orders placed minus burst orders it has handled; the timeline shows the worst group.
const behind = () => {
  const lags = Object.entries(all).map(([name, c]) => placed - 201 - (c.handled.size - (base[name] ?? 0)))
  return Math.max(...lags)
}
console.log(`4. burst: ${BURST} orders within one second`)
const started = performance.now()
const latencies: number[] = []
let peakLag = 0
const timeline = setInterval(() => {
  const lag = behind()
  peakLag = Math.max(peakLag, lag)
  const t = ((performance.now() - started) / 1000).toFixed(1)
  const recent = latencies.slice(-1000)
  console.log(
    `   t=${t}s placed ${placed - 201}/${BURST}  checkout p50 ${percentile(recent, 50).toFixed(0)} ms p99 ${percentile(recent, 99).toFixed(0)} ms  max consumer lag ${lag}`,
  )
}, 500)
const burst: Promise<unknown>[] = []
for (let i = 0; i < BURST; i++) {
  // Spread the arrivals over one second, as requests would arrive.
  if (i % Math.ceil(BURST / 20) === 0) await sleep(50)
  burst.push(place(order(1000 + i)).then((r) => latencies.push(r.ms)))
}
await Promise.all(burst)
const absorbed = performance.now() - started
await waitUntil('drain', () => behind() === 0, 300_000)
const drained = performance.now() - started
clearInterval(timeline)
console.log(
  `   burst absorbed in ${(absorbed / 1000).toFixed(2)} s: checkout p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms; peak consumer lag ${peakLag}; drained ${(drained / 1000).toFixed(1)} s after the burst began`,
)

await place(order(99_999, 'poison'))
const letters = deadLetters({ ...options, group: 'warehouse' })
while ((await letters.list()).length === 0) await sleep(50)
console.log(`5. poison order dead-lettered by warehouse: ${(await letters.list())[0]?.error}`)
warehouseFixed = true
console.log(`   fixed and redriven: ${(await letters.redrive()).redriven} message`)
await waitUntil('redrive', () => consumers.warehouse.handled.has(order(99_999).orderId))
console.log('   warehouse handled it; the other groups had it the first time')

await Promise.all(Object.values(all).map((c) => c.stop()))
await service.close()
redis.disconnect()
await pool.end()
