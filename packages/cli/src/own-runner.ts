import {
  type AnyProjection,
  createPostgresPendingCounter,
  createProjectionRunner,
  type ProjectionRunner,
} from '@annals/projections'
import { pino } from 'pino'
import { type CliIo, openStore, type Session } from './session.js'

/** A projection runner the CLI runs itself, for projections no worker owns. */
export type OwnRunner = Readonly<{
  runner: ProjectionRunner
  /** Stops the runner (its leases released) and closes the store it read. */
  stop(): Promise<void>
}>

/**
 * Starts a runner of the CLI's own over `projections` (it takes their leases like any worker), on the
 * config's store or the Postgres store in the session's schema. It logs warnings to stderr
 * (`ANNALS_LOG_LEVEL` changes the level).
 */
export async function startOwnRunner(
  session: Session,
  io: CliIo,
  projections: readonly AnyProjection[],
  tablePrefix: string,
): Promise<OwnRunner> {
  const { config, connections, schema } = session
  const pool = connections.pool
  const adapter = await openStore(pool, schema, config, tablePrefix)
  const runner = createProjectionRunner({
    pool,
    schema,
    tablePrefix,
    store: adapter.store,
    ...(adapter.watcher ? { watcher: adapter.watcher } : {}),
    projections,
    countPending: createPostgresPendingCounter({ pool, schema, tablePrefix }),
    logger: pino({ level: io.env.ANNALS_LOG_LEVEL ?? 'warn' }, pino.destination(2)),
    controlIntervalMs: 250,
  })
  try {
    await runner.start()
  } catch (error) {
    await adapter.close()
    throw error
  }
  return {
    runner,
    async stop() {
      try {
        await runner.stop()
      } finally {
        await adapter.close()
      }
    },
  }
}
