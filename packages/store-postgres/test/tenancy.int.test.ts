import { randomBytes, randomUUID } from 'node:crypto'
import { isAnnalsError, LOG_START, type RecordedEvent } from '@annals/core'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresEventStore, type PostgresEventStore } from '../src/event-store/postgres-event-store.js'
import { migrate } from '../src/migrate.js'
import { outboxMigrations } from '../src/outbox/outbox-migrations.js'
import { outboxTables } from '../src/outbox/outbox-tables.js'
import { createPostgresCheckpointStore } from '../src/postgres-checkpoint-store.js'
import { createPostgresIdempotencyStore } from '../src/postgres-idempotency-store.js'
import { createPostgresSnapshotStore } from '../src/postgres-snapshot-store.js'
import { toExecutor } from '../src/sql/executor.js'
import { runMigrations } from '../src/sql/migrator.js'
import { ALL_TENANTS } from '../src/tenancy.js'
import { createTestDatabase, type TestDatabase } from '../src/testing/test-database.js'

const schema = 'tn'
const TENANTS = ['acme', 'globex'] as const
// Stream ids, consumers and idempotency keys that both tenants use.
const STREAMS = ['account-1', 'account-2', 'transfer-1']
let db: TestDatabase
let base: PostgresEventStore
let grouped: PostgresEventStore

async function migrateAll(pool: pg.Pool): Promise<void> {
  await migrate({ pool, schema })
  const t = outboxTables({ schema })
  await runMigrations(toExecutor({ pool }), {
    schema,
    ledger: t.ledger,
    migrations: outboxMigrations(t),
    onError: (_m, error) => error as Error,
  })
}

beforeAll(async () => {
  db = await createTestDatabase('annals_tenancy', { poolSize: 12 })
  await migrateAll(db.pool)
  const publish = (event: { type: string; data: unknown }) => [{ topic: 'bank', payload: event.data }]
  base = createPostgresEventStore({ pool: db.pool, schema, tenancy: 'multi', outbox: { publish } })
  grouped = createPostgresEventStore({ pool: db.pool, schema, tenancy: 'multi', groupCommit: true })
})

afterAll(async () => {
  await db?.drop()
})

/** Writes through every write path for one tenant; each event's data names its tenant. */
async function writeEverything(tenant: string): Promise<void> {
  const store = base.forTenant(tenant)
  const data = (n: number) => ({ tenant, n })
  // The fast path (one stream, no ids, no outbox)… with outbox rows the function path runs.
  await store.appendToStream('account-1', [{ type: 'Opened', data: data(1) }], { expectedVersion: 'no-stream' })
  await store.appendToStream('account-1', [{ type: 'Deposited', data: data(2) }], { expectedVersion: 1n })
  // Several streams atomically (the function's multi-stream locking).
  await store.appendToStreams([
    { streamId: 'account-2', events: [{ type: 'Opened', data: data(3) }], expectedVersion: 'no-stream' },
    { streamId: 'transfer-1', events: [{ type: 'Started', data: data(4) }] },
  ])
  // Caller-chosen ids and their re-send (the duplicate check).
  const eventId = randomUUID()
  const again = [{ type: 'Deposited', data: data(5), eventId }]
  await store.appendToStream('account-2', again, { expectedVersion: 1n })
  expect((await store.appendToStream('account-2', again, { expectedVersion: 1n })).duplicate).toBe(true)
  // Import with recorded times.
  await store.importToStream('imported-1', [{ type: 'Opened', data: data(6), recordedAt: new Date('2020-01-01') }])
  // Group commit.
  const g = grouped.forTenant(tenant)
  await Promise.all([
    g.appendToStream('transfer-1', [{ type: 'Moved', data: data(7) }]),
    g.appendToStream('account-1', [{ type: 'Withdrawn', data: data(8) }]),
  ])
  // Snapshots, checkpoints, idempotency keys with the same ids in both tenants.
  const snapshots = createPostgresSnapshotStore({ pool: db.pool, schema, tenant })
  await snapshots.save({
    streamId: 'account-1',
    streamVersion: 2n,
    globalPosition: 1n,
    recordedAt: new Date(),
    stateVersion: 1,
    state: { tenant },
  })
  const checkpoints = createPostgresCheckpointStore({ pool: db.pool, schema, tenant })
  expect(await checkpoints.store('balances', { transactionId: 10n, position: tenant === 'acme' ? 1n : 2n }, null)).toBe(
    true,
  )
  const keys = createPostgresIdempotencyStore({ pool: db.pool, schema, tenant })
  const { replayed } = await keys.execute('cmd-1', 'fp', async () => ({ tenant }))
  expect(replayed).toBe(false)
}

const tenantOf = (e: RecordedEvent) => (e.data as { tenant?: string }).tenant

describe('tenancy: two tenants with colliding stream ids', () => {
  beforeAll(async () => {
    for (const tenant of TENANTS) await writeEverything(tenant)
  })

  it('finds 0 cross-tenant rows in any table written by any write path', async () => {
    const checks = [
      `SELECT count(*)::int AS n FROM ${schema}.events WHERE data->>'tenant' IS DISTINCT FROM tenant_id`,
      `SELECT count(*)::int AS n FROM ${schema}.outbox WHERE payload->>'tenant' IS DISTINCT FROM tenant_id`,
      `SELECT count(*)::int AS n FROM ${schema}.snapshots WHERE state->>'tenant' IS DISTINCT FROM tenant_id`,
      `SELECT count(*)::int AS n FROM ${schema}.idempotency_keys WHERE result->>'tenant' IS DISTINCT FROM tenant_id`,
    ]
    for (const check of checks) expect((await db.pool.query(check)).rows[0].n).toBe(0)
    // Every table holds both tenants' rows under the same ids (the collision is real).
    for (const table of ['events', 'streams', 'snapshots', 'checkpoints', 'idempotency_keys', 'outbox']) {
      const { rows } = await db.pool.query(`SELECT DISTINCT tenant_id FROM ${schema}.${table} ORDER BY 1`)
      expect(rows.map((r) => r.tenant_id)).toEqual(['acme', 'globex'])
    }
    const { rows } = await db.pool.query(
      `SELECT tenant_id, stream_id, version::int FROM ${schema}.streams ORDER BY 1, 2`,
    )
    expect(rows.filter((r) => r.tenant_id === 'acme').map((r) => [r.stream_id, r.version])).toEqual([
      ['account-1', 3],
      ['account-2', 2],
      ['imported-1', 1],
      ['transfer-1', 2],
    ])
  })

  it('reads only the handle tenant through every read path', async () => {
    for (const tenant of TENANTS) {
      const store = base.forTenant(tenant)
      for (const id of [...STREAMS, 'imported-1']) {
        const all = await store.readStream(id)
        expect(all.events.length).toBeGreaterThan(0)
        expect(all.events.every((e) => tenantOf(e) === tenant && e.tenantId === tenant)).toBe(true)
        const head = all.events[all.events.length - 1] as RecordedEvent
        // Time travel by version, position and time.
        for (const options of [{ to: 1n }, { untilPosition: head.globalPosition }, { untilTime: head.recordedAt }]) {
          const some = await store.readStream(id, options)
          expect(some.events.every((e) => tenantOf(e) === tenant)).toBe(true)
        }
      }
      const log = await store.readAll({ after: LOG_START, limit: 1000 })
      expect(log.events).toHaveLength(8)
      expect(log.events.every((e) => tenantOf(e) === tenant)).toBe(true)
      const typed = await store.readAll({ types: ['Opened', 'Moved'] })
      expect(typed.events.map((e) => e.type).sort()).toEqual(['Moved', 'Opened', 'Opened', 'Opened'])
      expect(typed.events.every((e) => tenantOf(e) === tenant)).toBe(true)
      expect(await store.countEvents()).toBe(8)
      expect(await store.countEvents({ types: ['Opened'] })).toBe(3)
      expect((await store.logHead()).pending).toBe(8)
      expect((await store.logHead({ types: ['Opened'] })).pending).toBe(3)

      const snapshot = await createPostgresSnapshotStore({ pool: db.pool, schema, tenant }).loadLatest('account-1', {
        stateVersion: 1,
      })
      expect(snapshot?.state).toEqual({ tenant })
      const checkpoint = await createPostgresCheckpointStore({ pool: db.pool, schema, tenant }).load('balances')
      expect(checkpoint?.position).toBe(tenant === 'acme' ? 1n : 2n)
      const replay = await createPostgresIdempotencyStore({ pool: db.pool, schema, tenant }).execute(
        'cmd-1',
        'fp',
        async () => ({ tenant: 'never run' }),
      )
      expect(replay).toEqual({ result: { tenant }, replayed: true })
    }
  })

  it('gives expected versions per tenant: the same stream id of another tenant does not count', async () => {
    const fresh = `fresh-${randomUUID()}`
    await base.forTenant('acme').appendToStream(fresh, [{ type: 'Opened', data: { tenant: 'acme' } }])
    const globex = await base
      .forTenant('globex')
      .appendToStream(fresh, [{ type: 'Opened', data: { tenant: 'globex' } }], { expectedVersion: 'no-stream' })
    expect(globex.nextExpectedVersion).toBe(1n)
  })

  it('reads every tenant through ALL_TENANTS, each event naming its tenant', async () => {
    const all = base.forTenant(ALL_TENANTS)
    const { events } = await all.readAll({ limit: 1000 })
    expect(new Set(events.map((e) => e.tenantId))).toEqual(new Set(['acme', 'globex']))
    expect(events.every((e) => tenantOf(e) === e.tenantId)).toBe(true)
    expect(await all.countEvents()).toBe(events.length)
  })

  it('refuses queries that do not name the tenant, with a typed error', async () => {
    const refused = [
      base.readStream('account-1'),
      base.readAll(),
      base.appendToStream('account-1', [{ type: 'X', data: {} }]),
      base.countEvents(),
      base.forTenant(ALL_TENANTS).readStream('account-1'),
      base.forTenant(ALL_TENANTS).appendToStream('account-1', [{ type: 'X', data: {} }]),
    ]
    for (const promise of refused) {
      const error = await promise.catch((e: unknown) => e)
      expect(isAnnalsError(error, 'ANNALS_PG_ERR_TENANT_SCOPE')).toBe(true)
    }
    expect(() => base.forTenant('*')).toThrow(expect.objectContaining({ code: 'ANNALS_PG_ERR_TENANT_SCOPE' }))
    expect(() => base.forTenant('')).toThrow()
    expect(() => createPostgresSnapshotStore({ pool: db.pool, schema, tenant: '*' })).toThrow(
      expect.objectContaining({ code: 'ANNALS_PG_ERR_TENANT_SCOPE' }),
    )
  })

  it('keeps single-tenant stores on the default tenant, seeing no named tenant', async () => {
    const single = createPostgresEventStore({ pool: db.pool, schema })
    expect((await single.readStream('account-1')).streamExists).toBe(false)
    await single.appendToStream('account-1', [{ type: 'Opened', data: { tenant: 'default' } }])
    expect((await single.readStream('account-1')).events.map((e) => tenantOf(e))).toEqual(['default'])
    expect((await single.readAll()).events.every((e) => tenantOf(e) === 'default')).toBe(true)
    const { rows } = await db.pool.query(`SELECT tenant_id FROM ${schema}.events WHERE data->>'tenant' = 'default'`)
    expect(rows).toEqual([{ tenant_id: 'default' }])
  })

  it('sends a tenant append as one message (its SET LOCAL rides with the append)', async () => {
    const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }
    const original = proto.query
    const sent: string[] = []
    const store = base.forTenant('acme')
    const id = `one-${randomUUID()}`
    await store.appendToStream(id, [{ type: 'Opened', data: { tenant: 'acme' } }]) // prepares on its connection
    proto.query = function (this: unknown, ...args: unknown[]) {
      const first = args[0] as string | { text: string }
      sent.push(typeof first === 'string' ? first : first.text)
      return original.apply(this, args)
    }
    try {
      await createPostgresEventStore({ pool: db.pool, schema, tenancy: 'multi', rowLevelSecurity: false })
        .forTenant('acme')
        .appendToStream(id, [{ type: 'Deposited', data: { tenant: 'acme' } }])
    } finally {
      proto.query = original
    }
    const appends = sent.filter((text) => text.includes('EXECUTE'))
    expect(appends).toHaveLength(1)
    expect(appends[0]).toMatch(/^BEGIN; SET LOCAL annals\.tenant = 'acme'; EXECUTE/)
  })
})

describe('row-level security for a role that does not own the tables', () => {
  const role = `annals_tenancy_app_${randomBytes(4).toString('hex')}`
  let appPool: pg.Pool

  beforeAll(async () => {
    await db.pool.query(`CREATE ROLE ${role} LOGIN`)
    await db.pool.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`)
    await db.pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`)
    await db.pool.query(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${schema} TO ${role}`)
    const url = new URL(db.connectionString)
    url.username = role
    appPool = new pg.Pool({ connectionString: url.toString(), max: 4 })
  })

  afterAll(async () => {
    await appPool?.end()
    await db.pool.query(`DROP OWNED BY ${role}`).catch(() => undefined)
    await db.pool.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined)
  })

  it('answers a query that forgets the tenant setting with no rows, and refuses a write to another tenant', async () => {
    const { rows } = await appPool.query(`SELECT count(*)::int AS n FROM ${schema}.events`)
    expect(rows[0].n).toBe(0)
    for (const table of ['streams', 'snapshots', 'checkpoints', 'idempotency_keys', 'outbox']) {
      expect((await appPool.query(`SELECT count(*)::int AS n FROM ${schema}.${table}`)).rows[0].n).toBe(0)
    }
    const client = await appPool.connect()
    try {
      await client.query('BEGIN')
      await client.query(`SET LOCAL annals.tenant = 'acme'`)
      const seen = await client.query(`SELECT DISTINCT tenant_id FROM ${schema}.events`)
      expect(seen.rows).toEqual([{ tenant_id: 'acme' }])
      const error = await client
        .query(`INSERT INTO ${schema}.streams (tenant_id, stream_id, version) VALUES ('globex', 'intruder', 1)`)
        .catch((e: unknown) => e)
      expect((error as { code?: string }).code).toBe('42501')
      await client.query('ROLLBACK')
      // The all-tenants setting reads, but cannot write or delete.
      await client.query('BEGIN')
      await client.query(`SET LOCAL annals.tenant = '*'`)
      expect((await client.query(`SELECT DISTINCT tenant_id FROM ${schema}.events ORDER BY 1`)).rows.length).toBe(3)
      expect((await client.query(`DELETE FROM ${schema}.events`)).rowCount).toBe(0)
      await client.query('ROLLBACK')
    } finally {
      client.release()
    }
  })

  it('lets the store work for its tenant under RLS (appends, reads, checkpoints), never another', async () => {
    const store = createPostgresEventStore({ pool: appPool, schema, tenancy: 'multi', rowLevelSecurity: true })
    const acme = store.forTenant('acme')
    const id = `rls-${randomUUID()}`
    await acme.appendToStream(id, [{ type: 'Opened', data: { tenant: 'acme' } }])
    await acme.appendToStreams([{ streamId: id, events: [{ type: 'Deposited', data: { tenant: 'acme' } }] }])
    expect((await acme.readStream(id)).events).toHaveLength(2)
    expect((await acme.readAll({ limit: 1000 })).events.every((e) => tenantOf(e) === 'acme')).toBe(true)
    expect((await store.forTenant('globex').readStream(id)).streamExists).toBe(false)
    const all = await store.forTenant(ALL_TENANTS).readAll({ limit: 1000 })
    expect(new Set(all.events.map((e) => e.tenantId)).size).toBe(3)
    const checkpoints = createPostgresCheckpointStore({ pool: appPool, schema, tenant: 'acme', rowLevelSecurity: true })
    expect(await checkpoints.load('balances')).toEqual({ transactionId: 10n, position: 1n })
    // Without the setting the role sees nothing: the store without rowLevelSecurity cannot read.
    const forgetful = createPostgresEventStore({ pool: appPool, schema, tenancy: 'multi' }).forTenant('acme')
    expect((await forgetful.readStream(id)).events).toHaveLength(0)
  })
})
