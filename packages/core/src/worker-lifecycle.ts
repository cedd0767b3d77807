/** Start/stop of a long-running worker (projection runner, outbox relay, saga worker). */
export interface Worker {
  /** Starts the worker's loops; throws the package's already-started error when it runs already. */
  start(): Promise<void>
  /** Stops gracefully: the current batch finishes, then every loop has ended when this resolves. */
  stop(): Promise<void>
  /** Resolves once the worker has stopped (after `stop()`, or a signal when `handleSignals` is on). */
  whenStopped(): Promise<void>
}

/** What a concrete worker plugs into {@link createWorkerLifecycle}. */
export type WorkerLifecycleHooks = Readonly<{
  /** The error a second `start()` throws (each package keeps its own stable code). */
  alreadyStarted(): Error
  /** Starts the loops. Runs once per `start()`. */
  onStart(): Promise<void> | void
  /** Asks the loops to end and waits for them. Runs once per `stop()`. */
  onStop(): Promise<void> | void
  /** Stop gracefully on SIGTERM and SIGINT. Default false. */
  handleSignals?: boolean
}>

/** A worker's state machine: `running` is true from `start()` until `stop()` has finished. */
export interface WorkerLifecycle extends Worker {
  readonly running: boolean
  /** True once `stop()` was called, until the next `start()`: loops check it between batches. */
  readonly stopping: boolean
}

/**
 * The one worker lifecycle: start/stop are idempotent where that is safe, a second `start()` is an
 * error, `whenStopped()` resolves after each stop, and `handleSignals` installs SIGTERM/SIGINT
 * handlers only while running (so a stopped worker never keeps a signal from the process).
 */
export function createWorkerLifecycle(hooks: WorkerLifecycleHooks): WorkerLifecycle {
  let running = false
  let stopping = false
  let stopPromise: Promise<void> | null = null
  let starting: Promise<void> | null = null
  let markStopped: () => void = () => {}
  let stopped: Promise<void> = Promise.resolve()
  const onSignal = (): void => void lifecycle.stop()

  const lifecycle: WorkerLifecycle = {
    get running() {
      return running
    },
    get stopping() {
      return stopping
    },
    async start() {
      if (running) throw hooks.alreadyStarted()
      running = true
      stopping = false
      stopPromise = null
      stopped = new Promise<void>((resolve) => {
        markStopped = resolve
      })
      if (hooks.handleSignals) {
        process.once('SIGTERM', onSignal)
        process.once('SIGINT', onSignal)
      }
      starting = (async () => hooks.onStart())()
      try {
        await starting
      } catch (error) {
        running = false
        removeSignals()
        markStopped()
        throw error
      } finally {
        starting = null
      }
    },
    stop() {
      if (!running) return stopPromise ?? Promise.resolve()
      if (stopPromise) return stopPromise
      stopping = true
      removeSignals()
      const pendingStart = starting
      stopPromise = (async () => {
        try {
          // A stop that arrives while onStart runs (a signal during migrations) waits for it, so that
          // onStop never tears down what is still being set up; a failed start has nothing to stop.
          if (
            pendingStart &&
            !(await pendingStart.then(
              () => true,
              () => false,
            ))
          )
            return
          await hooks.onStop()
        } finally {
          running = false
          markStopped()
        }
      })()
      return stopPromise
    },
    whenStopped: () => stopped,
  }

  function removeSignals(): void {
    if (!hooks.handleSignals) return
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }

  return lifecycle
}
