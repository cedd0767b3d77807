import type { EventStore, LogCheckpoint, LogWatcher } from '@annals/core'
import type { LogHead } from '@annals/store-postgres'
import type { DeadLetterStore } from '../dead-letters.js'
import type { LeaseStore } from '../lease.js'
import type { ProjectionTables } from '../names.js'
import type { Registry } from '../registry.js'
import type { RunnerMetrics } from './runner-metrics.js'
import type { RunnerHooks, RunnerSettings } from './runner-options.js'

/**
 * @internal What the runner's parts share: settings, stores and the stop flag. Per-projection state
 * lives in each `ProjectionWorker`, passed explicitly; each part names the slice of this it uses.
 */
export type RunnerContext = RunnerSettings &
  Readonly<{
    tables: ProjectionTables
    store: EventStore
    watcher: LogWatcher | undefined
    leases: LeaseStore
    registry: Registry
    deadLetters: DeadLetterStore
    metrics: RunnerMetrics
    hooks: RunnerHooks | undefined
    countPending: ((after: LogCheckpoint, types: readonly string[]) => Promise<number>) | undefined
    /** The committed log after a checkpoint, fence or not (the store's `logHead`, when it has one). */
    logHead: ((after: LogCheckpoint, types: readonly string[]) => Promise<LogHead>) | undefined
    /** How many wake-ups the watcher delivered since the runner was created. */
    wakeUps(): number
    /** True from `stop()` until the next `start()`: loops end, retry sleeps abandon their event. */
    isStopping(): boolean
  }>
