import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { OutboundMessage } from '@annals/core'
import { Redis } from 'ioredis'
import pg from 'pg'
import { migrateOutbox } from '../src/migrate-outbox.js'
import { resolveTables } from '../src/names.js'

export const PG_BASE = 'postgres://postgres@127.0.0.1:5432'

/** A fresh database for one test file, dropped by `drop()`. */
export async function createTestDatabase(
  label: string,
): Promise<{ pool: pg.Pool; url: string; drop(): Promise<void> }> {
  const name = `annals_outbox_${label}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = `${PG_BASE}/${name}`
  const pool = new pg.Pool({ connectionString: url, max: 20 })
  // DROP DATABASE ... WITH (FORCE) terminates connections that are still closing.
  pool.on('error', () => undefined)
  return {
    pool,
    url,
    async drop() {
      await pool.end()
      const a = new pg.Client({ connectionString: `${PG_BASE}/postgres` })
      await a.connect()
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await a.end()
    },
  }
}

/** A Redis client plus a random key prefix; `cleanup()` deletes the prefix's keys. */
export function createTestRedis(): { redis: Redis; keyPrefix: string; cleanup(): Promise<void> } {
  const redis = new Redis({ host: '127.0.0.1', port: 6379 })
  const keyPrefix = `annals-outbox-test-${randomBytes(4).toString('hex')}`
  return {
    redis,
    keyPrefix,
    async cleanup() {
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', 1000)
        cursor = next
        if (keys.length > 0) await redis.del(...keys)
      } while (cursor !== '0')
      redis.disconnect()
    },
  }
}

export async function setupOutbox(pool: pg.Pool, schema = 'app'): Promise<void> {
  await migrateOutbox({ pool, schema })
}

/**
 * Inserts outbox rows exactly the way the Postgres event store's append does: only the eight columns
 * it knows, everything else from defaults.
 */
export async function insertOutboxRows(
  db: pg.Pool | pg.PoolClient,
  schema: string,
  messages: readonly (OutboundMessage & { eventId?: string; eventPosition?: bigint })[],
): Promise<void> {
  if (messages.length === 0) return
  const t = resolveTables({ schema })
  await db.query(
    `INSERT INTO ${t.outbox} (message_id, topic, partition_key, type, payload, headers, event_id, event_position)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::uuid[], $8::bigint[])`,
    [
      messages.map((m) => m.messageId),
      messages.map((m) => m.topic),
      messages.map((m) => m.partitionKey),
      messages.map((m) => m.type),
      messages.map((m) => JSON.stringify(m.payload)),
      messages.map((m) => JSON.stringify(m.headers)),
      messages.map((m) => m.eventId ?? m.messageId),
      messages.map((m) => (m.eventPosition ?? 0n).toString()),
    ],
  )
}

/** Reads a whole stream as parsed entries. */
export async function readStream(
  redis: Redis,
  key: string,
): Promise<{ entryId: string; fields: Record<string, string> }[]> {
  const entries = await redis.xrange(key, '-', '+')
  return entries.map(([entryId, flat]) => {
    const fields: Record<string, string> = {}
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string
    return { entryId, fields }
  })
}

export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = 'condition') {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`Timed out waiting for ${what}`)
}

/** A child process running one of the worker scripts, with its stdout lines. */
export type Worker = { child: ChildProcess; lines: string[]; exited: Promise<number | null> }

const children = new Set<ChildProcess>()

export function spawnWorker(script: string, env: Record<string, string>): Worker {
  const file = fileURLToPath(new URL(`./workers/${script}`, import.meta.url))
  const child = spawn(process.execPath, ['--conditions=@annals/source', '--import', 'tsx', file], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  const lines: string[] = []
  let buffer = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    const parts = buffer.split('\n')
    buffer = parts.pop() ?? ''
    lines.push(...parts)
  })
  let err = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString()
    if (err.length > 20_000) err = err.slice(-10_000)
  })
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child)
      if (code !== null && code !== 0) process.stderr.write(`worker ${script} exited ${code}: ${err}\n`)
      resolve(code)
    }),
  )
  return { child, lines, exited }
}

/** SIGKILLs every worker still alive (the tests' cleanup). */
export async function killAllWorkers(): Promise<void> {
  const pending = [...children].map(
    (c) =>
      new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve()
        c.once('exit', () => resolve())
        c.kill('SIGKILL')
      }),
  )
  await Promise.all(pending)
}

export async function killWorker(worker: Worker): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return
  const done = worker.exited
  worker.child.kill('SIGKILL')
  await done
}
