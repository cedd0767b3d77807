import type { LogCheckpoint } from '@annals/core'
import type { Redis } from 'ioredis'
import { HandlerFailedError, ProjectionInvalidOptionError, SinkFailedError } from '../errors.js'
import type { ReadModelSink, SinkBatch, SinkCommitResult, SinkTarget } from '../sink.js'

/** A value Redis stores as a string. */
export type RedisScalar = string | number | bigint

/**
 * The writes a Redis projection handler may make. Calls are collected and applied with the batch's
 * checkpoint in one Lua script, so a batch is all-or-nothing and never applied twice.
 * Keys are the projection's own: they are stored under the generation's prefix.
 */
export interface RedisWriter {
  set(key: string, value: RedisScalar): void
  del(key: string): void
  incrby(key: string, by: number | bigint): void
  hset(key: string, fields: Readonly<Record<string, RedisScalar>>): void
  hdel(key: string, ...fields: string[]): void
  hincrby(key: string, field: string, by: number | bigint): void
  sadd(key: string, ...members: string[]): void
  srem(key: string, ...members: string[]): void
  zadd(key: string, score: number, member: string): void
  zrem(key: string, ...members: string[]): void
  rpush(key: string, ...values: RedisScalar[]): void
}

/** Options of {@link createRedisSink}. */
export type RedisSinkOptions = Readonly<{
  /** The ioredis client (yours: the sink never closes it). */
  redis: Redis
  /** Prefix of every key this sink writes. Default `annals:`. */
  keyPrefix?: string
}>

type Op = Readonly<{ cmd: string; key: string; args: readonly string[] }>

/** @internal Key layout: the `{name}` hash tag keeps one projection's keys in one cluster slot. */
export function redisKeys(keyPrefix: string, projection: string) {
  const base = `${keyPrefix}{${projection}}`
  return {
    base,
    pointer: `${base}:live`,
    fence: `${base}:fence`,
    generationPrefix: (generation: number) => `${base}:g${generation}:`,
    data: (generation: number, key: string) => `${base}:g${generation}:k:${key}`,
    dataPrefix: (generation: number) => `${base}:g${generation}:k:`,
    checkpoint: (generation: number) => `${base}:g${generation}:cp`,
    /** A partition's checkpoint (under the generation: dropped with it). */
    partitionCheckpoint: (generation: number, partition: number) => `${base}:g${generation}:cp:p${partition}`,
    /** A partition's fence: its tokens only grow, but not in step with the other partitions'. */
    partitionFence: (partition: number) => `${base}:fence:p${partition}`,
    replayed: (generation: number) => `${base}:g${generation}:replayed`,
  }
}

/** @internal Checkpoint text stored in Redis: `transactionId:position`. */
export function encodeCheckpoint(cp: LogCheckpoint): string {
  return `${cp.transactionId.toString()}:${cp.position.toString()}`
}

/** @internal */
export function decodeCheckpoint(text: string | null | false | undefined): LogCheckpoint | null {
  if (!text) return null
  const [tx, pos] = text.split(':')
  if (tx === undefined || pos === undefined) return null
  return { transactionId: BigInt(tx), position: BigInt(pos) }
}

// Fence first (a lower token than one seen means a newer owner exists), then the checkpoint
// compare-and-set, then the replay ids, then the writes and the new checkpoint. Redis runs a script
// atomically, so a crash either applied all of it or none of it.
const COMMIT_SCRIPT = `
local token = tonumber(ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if token < fence then return {'fenced'} end
if token > fence then redis.call('SET', KEYS[2], ARGV[1]) end
local cur = redis.call('GET', KEYS[1])
if ARGV[2] == '' then
  if cur then return {'conflict', cur} end
elseif cur ~= ARGV[2] then
  return {'conflict', cur or ''}
end
local n = tonumber(ARGV[4])
for j = 5, 4 + n do
  if redis.call('SISMEMBER', KEYS[3], ARGV[j]) == 1 then return {'duplicate'} end
end
-- Redis does not roll a script back when a command fails half-way: find type errors before writing
-- anything, following the types each write leaves behind (DEL then HSET on a string key is fine).
local family = {SET='string', INCRBY='string', HSET='hash', HDEL='hash', HINCRBY='hash', SADD='set', SREM='set',
  ZADD='zset', ZREM='zset', RPUSH='list'}
local seen = {}
local i = 5 + n
while i <= #ARGV do
  local k = KEYS[tonumber(ARGV[i + 1])]
  local t = seen[k]
  if t == nil then t = redis.call('TYPE', k).ok end
  local want = family[ARGV[i]]
  if ARGV[i] == 'DEL' then
    t = 'none'
  elseif ARGV[i] == 'SET' then
    t = 'string'
  elseif t ~= 'none' and t ~= want then
    return {'wrongtype', k, t, ARGV[i]}
  elseif ARGV[i] ~= 'HDEL' and ARGV[i] ~= 'SREM' and ARGV[i] ~= 'ZREM' then
    t = want
  end
  seen[k] = t
  i = i + 3 + tonumber(ARGV[i + 2])
end
for j = 5, 4 + n do redis.call('SADD', KEYS[3], ARGV[j]) end
i = 5 + n
while i <= #ARGV do
  local argc = tonumber(ARGV[i + 2])
  redis.call(ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + argc))
  i = i + 3 + argc
end
if ARGV[3] ~= '' then redis.call('SET', KEYS[1], ARGV[3]) end
return {'committed'}
`

const FENCE_SCRIPT = `
local token = tonumber(ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
if token < fence then return 0 end
if token > fence then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`

const ACTIVATE_SCRIPT = `
local token = tonumber(ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
if token < fence then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`

// Resolves the live generation and reads in one atomic step, so a reader never sees the pointer of
// one generation and the (already dropped) data of another.
const READ_SCRIPT = `
local g = redis.call('GET', KEYS[1])
if not g then return false end
return redis.call(ARGV[1], ARGV[2] .. g .. ARGV[3] .. ARGV[4], unpack(ARGV, 5))
`

function str(v: RedisScalar): string {
  return typeof v === 'string' ? v : v.toString()
}

function collector(ops: Op[]): RedisWriter {
  const push = (cmd: string, key: string, args: readonly string[]) => {
    if (typeof key !== 'string' || key.length === 0)
      throw new ProjectionInvalidOptionError('key', 'must be a non-empty string')
    ops.push({ cmd, key, args })
  }
  return {
    set: (key, value) => push('SET', key, [str(value)]),
    del: (key) => push('DEL', key, []),
    incrby: (key, by) => push('INCRBY', key, [str(by)]),
    hset: (key, fields) => {
      const args: string[] = []
      for (const [f, v] of Object.entries(fields)) args.push(f, str(v))
      if (args.length > 0) push('HSET', key, args)
    },
    hdel: (key, ...fields) => push('HDEL', key, fields),
    hincrby: (key, field, by) => push('HINCRBY', key, [field, str(by)]),
    sadd: (key, ...members) => push('SADD', key, members),
    srem: (key, ...members) => push('SREM', key, members),
    zadd: (key, score, member) => push('ZADD', key, [String(score), member]),
    zrem: (key, ...members) => push('ZREM', key, members),
    rpush: (key, ...values) => push('RPUSH', key, values.map(str)),
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}

/**
 * A Redis read model. Each generation lives under its own key prefix; a pointer key names the live
 * one. The checkpoint lives in Redis next to the data: when Redis loses its data, the checkpoint is
 * gone too and the projection rebuilds from zero instead of resuming from the head.
 */
export function createRedisSink(
  options: RedisSinkOptions,
): ReadModelSink<RedisWriter> & { readonly keyPrefix: string } {
  const { redis } = options
  const keyPrefix = options.keyPrefix ?? 'annals:'
  if (/[{}]/.test(keyPrefix))
    throw new ProjectionInvalidOptionError('keyPrefix', 'must not contain "{" or "}" (hash tags)')
  // A partition's checkpoint and fence are its own: the partitions of one generation commit apart.
  const checkpointKey = (target: SinkTarget) => {
    const keys = redisKeys(keyPrefix, target.projection)
    return target.partition === undefined
      ? keys.checkpoint(target.generation)
      : keys.partitionCheckpoint(target.generation, target.partition)
  }
  const fenceKey = (target: Omit<SinkTarget, 'generation'>) => {
    const keys = redisKeys(keyPrefix, target.projection)
    return target.partition === undefined ? keys.fence : keys.partitionFence(target.partition)
  }
  return {
    kind: 'redis',
    keyPrefix,
    async prepare() {},
    async loadCheckpoint(target: SinkTarget) {
      return decodeCheckpoint(await redis.get(checkpointKey(target)))
    },
    async commit(target: SinkTarget, batch: SinkBatch<RedisWriter>): Promise<SinkCommitResult> {
      const ops: Op[] = []
      await batch.apply(collector(ops))
      const keys = redisKeys(keyPrefix, target.projection)
      const keyIndex = new Map<string, number>()
      const scriptKeys = [checkpointKey(target), fenceKey(target), keys.replayed(target.generation)]
      const argv: string[] = [
        batch.token.toString(),
        batch.expected ? encodeCheckpoint(batch.expected) : '',
        batch.checkpoint ? encodeCheckpoint(batch.checkpoint) : '',
        String(batch.replayIds.length),
        ...batch.replayIds.map(String),
      ]
      for (const op of ops) {
        const full = keys.data(target.generation, op.key)
        let index = keyIndex.get(full)
        if (index === undefined) {
          scriptKeys.push(full)
          index = scriptKeys.length
          keyIndex.set(full, index)
        }
        argv.push(op.cmd, String(index), String(op.args.length), ...op.args)
      }
      let reply: unknown
      try {
        reply = await redis.eval(COMMIT_SCRIPT, scriptKeys.length, ...scriptKeys, ...argv)
      } catch (error) {
        throw new SinkFailedError('redis', `commit of ${target.projection} failed: ${(error as Error).message}`, {
          cause: error,
        })
      }
      const [status, detail, actualType, command] = reply as [string, string | undefined, string?, string?]
      if (status === 'wrongtype') {
        // A handler wrote to a key of another type: nothing was written. Which event did it is unknown
        // here (index -1): the runner retries one event at a time and parks the culprit.
        throw new HandlerFailedError(target.projection, '(batch)', -1, {
          cause: new Error(`WRONGTYPE: ${command} on key "${detail}" which holds a ${actualType}`),
        })
      }
      if (status === 'committed') return { status }
      if (status === 'fenced') return { status }
      if (status === 'duplicate') return { status }
      return { status: 'conflict', actual: decodeCheckpoint(detail) }
    },
    async fence(target, token) {
      await redis.eval(FENCE_SCRIPT, 1, fenceKey(target), token.toString())
    },
    async liveGeneration(target) {
      const value = await redis.get(redisKeys(keyPrefix, target.projection).pointer)
      return value === null ? null : Number(value)
    },
    async activate(target, token) {
      const keys = redisKeys(keyPrefix, target.projection)
      const ok = await redis.eval(
        ACTIVATE_SCRIPT,
        2,
        fenceKey(target),
        keys.pointer,
        token.toString(),
        String(target.generation),
      )
      return ok === 1
    },
    async drop(target) {
      const pattern = `${escapeGlob(redisKeys(keyPrefix, target.projection).generationPrefix(target.generation))}*`
      let cursor = '0'
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        cursor = next
        if (found.length > 0) await redis.unlink(...found)
      } while (cursor !== '0')
    },
  }
}

/** Options of {@link createRedisReadModel}. */
export type RedisReadModelOptions = Readonly<{ keyPrefix?: string }>

/** Reads a Redis projection's live generation; every read resolves the generation and reads atomically. */
export interface RedisReadModel {
  get(key: string): Promise<string | null>
  hgetall(key: string): Promise<Record<string, string> | null>
  hget(key: string, field: string): Promise<string | null>
  smembers(key: string): Promise<string[]>
  zrange(key: string, start: number, stop: number): Promise<string[]>
  lrange(key: string, start: number, stop: number): Promise<string[]>
  /** The generation readers see now (`null` before the first build). */
  generation(): Promise<number | null>
}

/**
 * A reader for a Redis projection that follows generation switches.
 * @example
 * const balances = createRedisReadModel(redis, 'balances')
 * await balances.hgetall('account-1')
 */
export function createRedisReadModel(
  redis: Redis,
  projection: string | Readonly<{ name: string; sink: { keyPrefix?: string } | object }>,
  options: RedisReadModelOptions = {},
): RedisReadModel {
  const name = typeof projection === 'string' ? projection : projection.name
  const sinkPrefix = typeof projection === 'string' ? undefined : (projection.sink as { keyPrefix?: string }).keyPrefix
  const keys = redisKeys(options.keyPrefix ?? sinkPrefix ?? 'annals:', name)
  const read = (cmd: string, key: string, ...args: string[]) =>
    redis.eval(READ_SCRIPT, 1, keys.pointer, cmd, `${keys.base}:g`, ':k:', key, ...args)
  return {
    get: async (key) => ((await read('GET', key)) as string | null) ?? null,
    hget: async (key, field) => ((await read('HGET', key, field)) as string | null) ?? null,
    async hgetall(key) {
      const flat = (await read('HGETALL', key)) as string[] | null
      if (!flat || flat.length === 0) return null
      const out: Record<string, string> = {}
      for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string
      return out
    },
    smembers: async (key) => ((await read('SMEMBERS', key)) as string[] | null) ?? [],
    zrange: async (key, start, stop) =>
      ((await read('ZRANGE', key, String(start), String(stop))) as string[] | null) ?? [],
    lrange: async (key, start, stop) =>
      ((await read('LRANGE', key, String(start), String(stop))) as string[] | null) ?? [],
    async generation() {
      const value = await redis.get(keys.pointer)
      return value === null ? null : Number(value)
    },
  }
}
