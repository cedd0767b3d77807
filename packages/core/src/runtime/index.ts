// The building blocks Annals' own packages share to run on the core: a worker's lifecycle, its waits
// and backoff, option checks, log fields, the rules for what a store keeps (one rule set for the
// in-memory and the Postgres stores), and the comparisons a store or a sink needs. An application
// rarely needs them; a package that adds a store, a sink or a worker to Annals does.
export { type Backoff, type BackoffDefaults, sleep, toBackoff } from '../backoff.js'
export { compareCheckpoints } from '../checkpoint.js'
export { checkExpectedVersion, matchesExpectedVersion } from '../expected-version.js'
export { canonicalJson } from '../ids.js'
export { toLogger, withLogFields } from '../logger.js'
export { integerOption } from '../options.js'
export { checkSnapshot, checkSnapshotQuery } from '../snapshot-store.js'
export {
  checkInt32,
  checkInt64,
  checkLogCheckpoint,
  checkName,
  checkTime,
  toStoredJson,
} from '../stored-values.js'
export { createWaiter, type Waiter } from '../waiter.js'
export { createWorkerLifecycle, type WorkerLifecycle, type WorkerLifecycleHooks } from '../worker-lifecycle.js'
