import { Redis } from 'ioredis'

/** The Redis the integration tests use (`ANNALS_TEST_REDIS_URL`, default 127.0.0.1:6379). */
export const REDIS_URL = process.env.ANNALS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A unique key prefix per suite run, so parallel suites and re-runs never see each other's keys. */
export function uniqueKeyPrefix(label: string): string {
  return `test:${label}:${process.pid}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}:`
}

/** Deletes every key under `prefix` (SCAN, never KEYS, so a shared server is not blocked). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await redis.del(...keys)
  } while (cursor !== '0')
}

/** A Redis client for tests; `close()` deletes the prefix's keys (when given) and quits. */
export function testRedis(prefix?: string): Redis & { close(): Promise<void> } {
  const redis = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 2 }) as Redis & {
    close(): Promise<void>
  }
  redis.close = async () => {
    if (prefix) await deleteKeys(redis, prefix)
    await redis.quit()
  }
  return redis
}
