import { migrateOutbox } from '@annals/outbox'
import { migrate } from '@annals/store-postgres'
import { createTestDatabase, type TestDatabase } from '@annals/store-postgres/testing'
import { testRedis, uniqueKeyPrefix, waitFor } from '@annals/test-support'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type CheckoutOptions,
  createOrderConsumer,
  createOrderService,
  deadLetters,
  type Order,
} from '../src/checkout.js'

let db: TestDatabase
let pool: pg.Pool
const keyPrefix = uniqueKeyPrefix('guide-checkout').replace(/:$/, '')
const redis = testRedis(keyPrefix)
let options: CheckoutOptions
let service: ReturnType<typeof createOrderService>
const consumers: ReturnType<typeof createOrderConsumer>[] = []
let poisonFixed = false

const order = (i: number, customer = `c${i}@example.com`): Order => ({
  orderId: `o-${i}`,
  customer,
  sku: 'sku-1',
  quantity: 1,
})
const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => `o-${from + k}`)
const hasAll = (handled: Set<string>, expected: readonly string[]) => expected.every((id) => handled.has(id))
const consumer = (group: string, handle: (o: Order) => void = () => {}) => {
  const c = createOrderConsumer({ ...options, group, handle })
  consumers.push(c)
  c.start()
  return c
}

beforeAll(async () => {
  db = await createTestDatabase('guide_checkout')
  pool = new pg.Pool({ connectionString: db.connectionString, max: 12 })
  await migrate({ pool })
  await migrateOutbox({ pool })
  options = { pool, redis, keyPrefix }
  service = createOrderService(options)
  service.relay.start()
})

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.stop()))
  await service?.close()
  await pool?.end()
  await redis.close()
  await db?.drop()
})

describe('the checkout story', () => {
  let email: ReturnType<typeof createOrderConsumer>
  let inventory: ReturnType<typeof createOrderConsumer>
  let warehouse: ReturnType<typeof createOrderConsumer>
  let analytics: ReturnType<typeof createOrderConsumer>

  it('answers "Order placed" once appended, and each consumer receives every OrderPlaced independently', async () => {
    email = consumer('email')
    inventory = consumer('inventory')
    warehouse = consumer('warehouse', (o) => {
      if (o.customer === 'poison' && !poisonFixed) throw new Error('warehouse cannot ship to "poison"')
    })
    analytics = consumer('analytics')
    const answers = await Promise.all(ids(0, 20).map((_, i) => service.placeOrder(order(i))))
    expect(new Set(answers.map((a) => a.answer))).toEqual(new Set(['Order placed']))
    for (const c of [email, inventory, warehouse, analytics])
      await waitFor('every consumer has the 20 orders', () => hasAll(c.handled, ids(0, 20)))
  })

  it('adds a fraud-detection consumer with no change to the producer: it reads the history too', async () => {
    const fraud = consumer('fraud')
    await waitFor('fraud has the past orders', () => hasAll(fraud.handled, ids(0, 20)))
    await service.placeOrder(order(20))
    await waitFor('fraud has the new order', () => fraud.handled.has('o-20'))
  })

  it('keeps placing orders while the email consumer is down; email catches up when it is back', async () => {
    await email.stop()
    const answers = await Promise.all(ids(21, 51).map((_, k) => service.placeOrder(order(21 + k))))
    expect(answers.every((a) => a.answer === 'Order placed')).toBe(true)
    await waitFor('inventory has them', () => hasAll(inventory.handled, ids(21, 51)))
    expect(ids(21, 51).some((id) => email.handled.has(id))).toBe(false)
    const back = consumer('email')
    await waitFor('email caught up', () => hasAll(back.handled, ids(21, 51)))
  })

  it('absorbs a burst of concurrent orders and every consumer processes all of them', async () => {
    const answers = await Promise.all(ids(100, 600).map((_, k) => service.placeOrder(order(100 + k))))
    expect(answers.length).toBe(500)
    for (const c of [inventory, warehouse, analytics])
      await waitFor('the burst is consumed', () => hasAll(c.handled, ids(100, 600)), { timeoutMs: 45_000 })
  })

  it('sends a poison order to the dead-letter stream, the rest flowing on, and redrives it once fixed', async () => {
    await service.placeOrder(order(900, 'poison'))
    await service.placeOrder(order(901))
    const letters = deadLetters({ ...options, group: 'warehouse' })
    await waitFor('the poison order is dead-lettered', async () => (await letters.list()).length === 1)
    await waitFor('the order behind it flows on', () => warehouse.handled.has('o-901'))
    expect(warehouse.handled.has('o-900')).toBe(false)
    expect((await letters.list())[0]?.error).toContain('cannot ship')
    await waitFor('the others handled it', () => inventory.handled.has('o-900') && analytics.handled.has('o-900'))
    poisonFixed = true
    expect((await letters.redrive()).redriven).toBe(1)
    await waitFor('the redriven order is handled', () => warehouse.handled.has('o-900'))
    expect(await letters.list()).toEqual([])
  })
})
