export { type KyselyLedger, migrateLikeRelease01 } from './kysely-migrator.js'
export { deleteKeys, REDIS_URL, testRedis, uniqueKeyPrefix } from './redis.js'
export { killAllSpawned, runTs, type SpawnedProcess, type SpawnTsOptions, spawnTs } from './spawn-node.js'
export { type WaitForOptions, waitFor } from './wait-for.js'
