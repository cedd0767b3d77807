import { deleteKeys, testRedis, uniqueKeyPrefix } from '@annals/test-support'
import { afterAll } from 'vitest'
import { readModelSinkContract } from '../testing/index.js'
import { createRedisReadModel, createRedisSink, redisKeys } from './redis-sink.js'

const redis = testRedis()
afterAll(async () => {
  await redis.close()
})

readModelSinkContract('Redis sink (real Redis)', async () => {
  const keyPrefix = uniqueKeyPrefix('projections-sink')
  const projection = 'contract'
  const keys = redisKeys(keyPrefix, projection)
  const reader = createRedisReadModel(redis, projection, { keyPrefix })
  let lastId = 0n
  return {
    sink: createRedisSink({ redis, keyPrefix }),
    projection,
    schema: 'annals',
    // The sink keeps the highest token it saw next to the data: the suite's sink.fence is the lease.
    grantLease: async () => {},
    // Replayed ids are recorded by the sink itself; any ids it has not seen will do.
    parkDeadLetters: async (_generation, count) => Array.from({ length: count }, () => ++lastId),
    write: (ctx, key, value) => ctx.set(key, value),
    read: (generation, key) => redis.get(keys.data(generation, key)),
    readLive: (key) => reader.get(key),
    close: () => deleteKeys(redis, keyPrefix),
  }
})
