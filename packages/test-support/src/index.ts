export { frozenSqlMigration, type KyselyLedger, migrateLikeRelease01 } from './kysely-migrator.js'
export {
  installPacked,
  linkDependency,
  type Manifest,
  type PublishablePackage,
  packedFiles,
  publishablePackages,
  WORKSPACE_ROOT,
} from './pack.js'
export { type PrivateRedis, startPrivateRedis } from './private-redis.js'
export { deleteKeys, REDIS_URL, testRedis, uniqueKeyPrefix } from './redis.js'
export { type PublisherLike, type RelayCrashHooks, relayCrashHooks } from './relay-crash-hooks.js'
export { type SchemaShape, schemaShape, tableNames } from './schema-shape.js'
export { killAllSpawned, runTs, type SpawnedProcess, type SpawnTsOptions, spawnTs } from './spawn-node.js'
export { type WaitForOptions, waitFor } from './wait-for.js'
