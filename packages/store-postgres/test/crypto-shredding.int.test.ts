import { randomBytes, randomUUID } from 'node:crypto'
import {
  createCryptoShreddingStore,
  createLocalMasterKey,
  defineEvent,
  isAnnalsError,
  isRedacted,
  type MasterKey,
  REDACTED,
  validateSchema,
} from '@annals/core'
import { personal } from '@annals/core/personal'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createPostgresEventStore, type PostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { migrate } from '../src/migrate.js'
import { outboxMigrations } from '../src/outbox/outbox-migrations.js'
import { outboxTables } from '../src/outbox/outbox-tables.js'
import { createPostgresDataKeys } from '../src/postgres-data-keys.js'
import { toExecutor } from '../src/sql/executor.js'
import { runMigrations } from '../src/sql/migrator.js'
import { createTestDatabase, type TestDatabase } from '../src/testing/test-database.js'

const schema = 'cs'
const Registered = defineEvent(
  'CustomerRegistered',
  z.object({ customerId: z.string(), name: personal(z.string()), email: personal(z.string()), tier: z.string() }),
)
const Moved = defineEvent(
  'CustomerMoved',
  z.object({
    customerId: z.string(),
    address: personal(z.object({ street: z.string(), city: z.string() })),
    note: personal(z.string()).optional(),
  }),
)
const events = [Registered, Moved]

let db: TestDatabase
let plain: PostgresEventStore
let masterKey: MasterKey

// Unique plaintexts, so that a scan of the database finds them only if they were stored.
const secret = (who: string, what: string) => `${who}-${what}-${randomBytes(6).toString('hex')}`
const people = ['alice', 'bob'].map((who) => ({
  id: `customer-${who}-${randomUUID()}`,
  name: secret(who, 'name'),
  email: `${secret(who, 'mail')}@example.com`,
  street: secret(who, 'street'),
  city: secret(who, 'city'),
}))
const [alice, bob] = people as [(typeof people)[number], (typeof people)[number]]

function shredding(key: MasterKey = masterKey) {
  return createCryptoShreddingStore({
    store: plain,
    dataKeys: createPostgresDataKeys({ pool: db.pool, schema }),
    masterKey: key,
    events,
    subjectOf: (event) => (event.data as { customerId?: string }).customerId,
  })
}

/** The text of every row of every table of the schema (and the data keys' too). */
async function databaseText(): Promise<string> {
  const { rows } = await db.pool.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
    [schema],
  )
  expect(rows.map((r) => r.t)).toEqual(expect.arrayContaining(['events', 'outbox', 'data_keys', 'streams']))
  const parts: string[] = []
  for (const { t } of rows) {
    const dump = await db.pool.query<{ row: string }>(`SELECT x::text AS row FROM "${schema}"."${t}" x`)
    parts.push(...dump.rows.map((r) => r.row))
  }
  return parts.join('\n')
}

beforeAll(async () => {
  db = await createTestDatabase('annals_tenancy_shred')
  await migrate({ pool: db.pool, schema })
  const t = outboxTables({ schema })
  await runMigrations(toExecutor({ pool: db.pool }), {
    schema,
    ledger: t.ledger,
    migrations: outboxMigrations(t),
    onError: (_m, error) => error as Error,
  })
  const publish = (event: { type: string; data: unknown }) => [{ topic: 'customers', payload: event.data }]
  plain = createPostgresEventStore({ pool: db.pool, schema, outbox: { publish } })
  masterKey = createLocalMasterKey(randomBytes(32).toString('base64'))
  const store = shredding()
  for (const p of people) {
    await store.appendToStream(p.id, [
      Registered.create({ customerId: p.id, name: p.name, email: p.email, tier: 'gold' }),
      Moved.create({ customerId: p.id, address: { street: p.street, city: p.city } }),
    ])
  }
})

afterAll(async () => {
  await db?.drop()
})

const plaintexts = (p: typeof alice) => [p.name, p.email, p.street, p.city]

describe('crypto-shredding on Postgres', () => {
  it('stores and publishes ciphertext only, and loads plaintext', async () => {
    const text = await databaseText()
    for (const p of people) for (const value of plaintexts(p)) expect(text).not.toContain(value)
    const outbox = await db.pool.query<{ payload: string }>(`SELECT payload::text FROM ${schema}.outbox`)
    expect(outbox.rows).toHaveLength(4)
    for (const row of outbox.rows) expect(row.payload).toContain('annals:pii:v1:')
    const { events: loaded } = await shredding().readStream(alice.id)
    expect(loaded.map((e) => e.data)).toEqual([
      { customerId: alice.id, name: alice.name, email: alice.email, tier: 'gold' },
      { customerId: alice.id, address: { street: alice.street, city: alice.city } },
    ])
  })

  it('a scan finds plaintext that was stored (the check itself can fail)', async () => {
    const control = secret('control', 'x')
    await plain.appendToStream(`control-${randomUUID()}`, [{ type: 'Note', data: { control } }])
    expect(await databaseText()).toContain(control)
  })

  it('after forget: no plaintext of the subject anywhere, fields load as REDACTED, others untouched', async () => {
    const store = shredding()
    expect(await store.forget(alice.id)).toBe(true)
    expect(await store.forget(alice.id)).toBe(false)
    const text = await databaseText()
    for (const value of plaintexts(alice)) expect(text).not.toContain(value)

    const { events: forgotten } = await store.readStream(alice.id)
    expect(forgotten.map((e) => e.data)).toEqual([
      { customerId: alice.id, name: REDACTED, email: REDACTED, tier: 'gold' },
      { customerId: alice.id, address: REDACTED },
    ])
    // The events still validate (and so fold): personal() accepts the marker.
    const [registered, moved] = forgotten
    const parsed = validateSchema(Registered.schema, registered?.data, 'event')
    expect(parsed.success && isRedacted(parsed.value.name)).toBe(true)
    expect(validateSchema(Moved.schema, moved?.data, 'event').success).toBe(true)

    const { events: kept } = await store.readStream(bob.id)
    expect(kept[0]?.data).toEqual({ customerId: bob.id, name: bob.name, email: bob.email, tier: 'gold' })
    const { events: log } = await store.readAll({ limit: 100 })
    const names = log.filter((e) => e.type === 'CustomerRegistered').map((e) => (e.data as { name: unknown }).name)
    expect(names).toEqual([REDACTED, bob.name])
    // A redrive of the outbox sends what it holds: ciphertext nobody can open any more.
    const outbox = await db.pool.query<{ payload: string }>(
      `SELECT payload::text FROM ${schema}.outbox WHERE payload->>'customerId' = $1`,
      [alice.id],
    )
    for (const row of outbox.rows) for (const value of plaintexts(alice)) expect(row.payload).not.toContain(value)
  })

  it('rebuilds a read model after forget with no personal data of the subject', async () => {
    // A projection folding the whole log from event zero into documents (as a rebuild does).
    const docs = new Map<string, Record<string, unknown>>()
    const { events: log } = await shredding().readAll({ limit: 1000 })
    for (const e of log) {
      const data = e.data as { customerId?: string }
      if (!data.customerId) continue
      docs.set(data.customerId, { ...(docs.get(data.customerId) ?? {}), ...data })
    }
    const text = JSON.stringify([...docs.values()])
    for (const value of plaintexts(alice)) expect(text).not.toContain(value)
    expect(text).toContain(bob.email)
    expect(isRedacted(docs.get(alice.id)?.email)).toBe(true)
  })

  it('refuses a wrong master key with a typed error, not garbage', async () => {
    const error = await shredding(createLocalMasterKey(randomBytes(32)))
      .readStream(bob.id)
      .catch((e: unknown) => e)
    expect(isAnnalsError(error, 'ANNALS_ERR_MASTER_KEY_MISMATCH')).toBe(true)
    const append = await shredding(createLocalMasterKey(randomBytes(32)))
      .appendToStream(bob.id, [Moved.create({ customerId: bob.id, address: { street: 's', city: 'c' } })])
      .catch((e: unknown) => e)
    expect(isAnnalsError(append, 'ANNALS_ERR_MASTER_KEY_MISMATCH')).toBe(true)
  })

  it('refuses an event with personal fields and no subject', async () => {
    const store = createCryptoShreddingStore({
      store: plain,
      dataKeys: createPostgresDataKeys({ pool: db.pool, schema }),
      masterKey,
      events,
      subjectOf: () => undefined,
    })
    const error = await store
      .appendToStream('nobody', [Registered.create({ customerId: 'x', name: 'n', email: 'e', tier: 't' })])
      .catch((e: unknown) => e)
    expect(isAnnalsError(error, 'ANNALS_ERR_INVALID_ARGUMENT')).toBe(true)
  })

  it('keeps data keys per tenant: forgetting a subject in one tenant leaves the other', async () => {
    const tenantStore = (tenant: string) =>
      createCryptoShreddingStore({
        store: createPostgresEventStore({ pool: db.pool, schema, tenancy: 'multi' }).forTenant(tenant),
        dataKeys: createPostgresDataKeys({ pool: db.pool, schema, tenant }),
        masterKey,
        events,
        subjectOf: (event) => (event.data as { customerId?: string }).customerId,
      })
    const [acme, globex] = [tenantStore('acme'), tenantStore('globex')]
    for (const store of [acme, globex]) {
      await store.appendToStream('c-1', [Registered.create({ customerId: 'c-1', name: 'N', email: 'E', tier: 't' })])
    }
    expect(await acme.forget('c-1')).toBe(true)
    expect((await acme.readStream('c-1')).events[0]?.data).toMatchObject({ name: REDACTED })
    expect((await globex.readStream('c-1')).events[0]?.data).toMatchObject({ name: 'N' })
  })
})
