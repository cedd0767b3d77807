import { type Aggregate, toEventArray } from './aggregate.js'
import { sleep, toBackoff } from './backoff.js'
import type { Command } from './command.js'
import { eventMetadataFor } from './correlation.js'
import {
  InvalidArgumentError,
  isConcurrencyError,
  isDomainError,
  isDuplicateEventIdError,
  RetriesExhaustedError,
} from './errors.js'
import type { Event, NewEvent, RecordedEvent, StreamId } from './event.js'
import type { AppendResult, EventStore } from './event-store.js'
import { checkExpectedVersion, type ExpectedVersion, type VersionsAreBigints_Write1nNot1 } from './expected-version.js'
import type { IdempotencyStore } from './idempotency-store.js'
import { deterministicId, fingerprint, newId } from './ids.js'
import { catchUp, type LoadedAggregate, loadWith } from './load-aggregate.js'
import type { SnapshotStore } from './snapshot-store.js'

/** How the command handler retries after losing a race (a `ConcurrencyError`). */
export type RetryPolicy = Readonly<{
  /** Total attempts, the first included. Default 5; 1 disables retries. */
  maxAttempts?: number
  /** Delay before the first retry, doubled each time, with full jitter. Default 5 ms. */
  initialDelayMs?: number
  /** Upper bound of one delay. Default 250 ms. */
  maxDelayMs?: number
}>

/** What a command handler needs. */
export type CommandHandlerOptions = Readonly<{
  store: EventStore
  /** Enables loading from and saving snapshots (when the aggregate has a snapshot policy). */
  snapshots?: SnapshotStore
  /** Records results by idempotency key, so that a repeated key returns the first result. */
  idempotency?: IdempotencyStore
  retry?: RetryPolicy
  /**
   * Called when saving a snapshot fails. The command has already succeeded (its events are
   * committed), so the error is reported here rather than thrown. Default: `process.emitWarning`.
   */
  onSnapshotError?: (error: unknown, streamId: StreamId) => void
}>

/** Per-call options of {@link CommandHandler.handle}. */
export type HandleOptions = Readonly<{
  /** The stream to act on; overrides the aggregate's `streamId(command)`. */
  streamId?: StreamId
  /**
   * The version the caller saw (optimistic locking across a user's think time). When given, a
   * conflict is thrown as `ConcurrencyError` instead of being retried. A bigint (`1n`).
   */
  expectedVersion?: bigint | VersionsAreBigints_Write1nNot1
}>

/** What handling a command produced. */
export type CommandResult<S, E extends Event = Event> = Readonly<{
  streamId: StreamId
  /** The state after the command. */
  state: S
  /** The events the command appended, as recorded (empty when `decide` returned none). */
  events: readonly RecordedEvent<E>[]
  /** The stream version after the command. */
  version: bigint
  /** True when this is the stored result of an earlier call with the same idempotency key. */
  replayed: boolean
  commandId: string
  correlationId: string
}>

/** Runs commands against one aggregate type: validate, load, decide, append, retry, snapshot. */
export interface CommandHandler<S, C extends Command, E extends Event, CIn extends Command = C> {
  readonly aggregate: Aggregate<S, C, E, CIn>
  /**
   * Handles one command. Throws `ValidationError` / `ANNALS_ERR_UNKNOWN_COMMAND_TYPE` for bad input, the
   * aggregate's `DomainError`s, `ANNALS_ERR_RETRIES_EXHAUSTED` after too many conflicts, and
   * `ANNALS_ERR_IDEMPOTENCY_KEY_REUSED` when a key comes back with another command.
   */
  handle(command: CIn, options?: HandleOptions): Promise<CommandResult<S, E>>
  /** Loads the current state of a stream (from the newest snapshot), as the handler does. */
  load(streamId: StreamId): Promise<LoadedAggregate<S, E>>
}

/** The command handler type of an aggregate: `CommandHandlerOf<typeof BankAccount>`. */
export type CommandHandlerOf<A> =
  A extends Aggregate<infer S, infer C, infer E, infer CIn> ? CommandHandler<S, C, E, CIn> : never

/** The JSON-safe record kept in the idempotency store: enough to rebuild the result from the stream. */
type StoredOutcome = Readonly<{
  streamId: StreamId
  /** First appended version, or null when the command appended nothing. */
  fromVersion: string | null
  toVersion: string
  commandId: string
  correlationId: string
}>

/**
 * Creates a command handler for an aggregate.
 *
 * Flow: validate the command; load the state (newest valid snapshot + tail); `decide`; append with
 * the loaded version as expected version; on `ConcurrencyError` reload and retry (bounded, with
 * jittered backoff); save a snapshot after the append committed when the policy says so.
 *
 * Idempotency: a command with `metadata.idempotencyKey` gets deterministic event ids (derived from
 * the key, the command's fingerprint and the event's index) and a deterministic command id. With an
 * idempotency store, a repeated key returns the first result; a key reused with another command
 * throws `ANNALS_ERR_IDEMPOTENCY_KEY_REUSED`. If the process died after the append but before the
 * result was recorded, the retry finds its own events in the stream (the store reports the re-sent
 * ids as a duplicate) and returns them as the result instead of appending again.
 * @example
 * const handler = createCommandHandler(Counter, { store, snapshots })
 * const { state, version } = await handler.handle(Increment.create({ id: 'c1', by: 2 }))
 */
export function createCommandHandler<S, C extends Command, E extends Event, CIn extends Command>(
  aggregate: Aggregate<S, C, E, CIn>,
  options: CommandHandlerOptions,
): CommandHandler<S, C, E, CIn> {
  const typed = aggregate as unknown as Aggregate<S, Command, E>
  const retry: Required<RetryPolicy> = {
    maxAttempts: options.retry?.maxAttempts ?? 5,
    initialDelayMs: options.retry?.initialDelayMs ?? 5,
    maxDelayMs: options.retry?.maxDelayMs ?? 250,
  }
  if (!Number.isInteger(retry.maxAttempts) || retry.maxAttempts < 1) {
    throw new InvalidArgumentError('retry.maxAttempts', 'must be an integer >= 1')
  }
  // Full jitter: racing writers on one hot stream spread out furthest.
  const retryDelay = toBackoff({ ...retry, jitter: 'full' }, retry)
  const stores = { store: options.store, ...(options.snapshots ? { snapshots: options.snapshots } : {}) }
  const onSnapshotError =
    options.onSnapshotError ??
    ((error: unknown, streamId: StreamId) => {
      process.emitWarning(
        `Annals: saving a snapshot of "${streamId}" failed: ${String(error)}`,
        'AnnalsSnapshotWarning',
      )
    })

  const load = (streamId: StreamId) => loadWith(typed, stores, streamId)

  /** Rebuilds the result of a command whose events are at `fromVersion..toVersion` of the stream. */
  async function rebuild(
    streamId: StreamId,
    fromVersion: bigint | null,
    toVersion: bigint,
    ids: { commandId: string; correlationId: string },
  ): Promise<CommandResult<S, E>> {
    const loaded = await loadWith(typed, stores, streamId, { asOf: { version: toVersion } })
    const events =
      fromVersion === null
        ? []
        : (await options.store.readStream(streamId, { from: fromVersion, to: toVersion })).events.map((e) =>
            aggregate.events.decode(e),
          )
    return { streamId, state: loaded.state, events, version: toVersion, replayed: true, ...ids }
  }

  /** Finds the events of an earlier run of the same keyed command in the stream (crash recovery). */
  async function recover(
    streamId: StreamId,
    eventIdFor: (index: number) => string,
    ids: { commandId: string; correlationId: string },
  ): Promise<CommandResult<S, E> | null> {
    const read = await options.store.readStream(streamId)
    const start = read.events.findIndex((e) => e.eventId === eventIdFor(0))
    if (start < 0) return null
    let end = start
    while (read.events[end + 1]?.eventId === eventIdFor(end + 1 - start)) end++
    const first = read.events[start]
    const last = read.events[end]
    if (!first || !last) return null
    return rebuild(streamId, first.streamVersion, last.streamVersion, ids)
  }

  async function saveSnapshotIfDue(
    streamId: StreamId,
    state: S,
    loaded: LoadedAggregate<S, E>,
    appended: readonly RecordedEvent<E>[],
  ): Promise<void> {
    const policy = aggregate.snapshot
    const last = appended[appended.length - 1]
    if (!options.snapshots || !policy || !last) return
    const due = policy({
      streamId,
      state,
      version: last.streamVersion,
      previousVersion: loaded.version,
      eventCount: appended.length,
      lastSnapshotVersion: loaded.snapshotVersion,
    })
    if (!due) return
    try {
      await options.snapshots.save({
        streamId,
        streamVersion: last.streamVersion,
        globalPosition: last.globalPosition,
        recordedAt: last.recordedAt,
        stateVersion: aggregate.stateVersion,
        state: aggregate.serializeState(state),
      })
    } catch (error) {
      onSnapshotError(error, streamId)
    }
  }

  async function run(
    command: Command,
    streamId: StreamId,
    handleOptions: HandleOptions | undefined,
    key: string | undefined,
    commandFingerprint: string,
    ids: { commandId: string; correlationId: string },
  ): Promise<CommandResult<S, E>> {
    const eventIdFor = (index: number) =>
      key === undefined ? newId() : deterministicId(`event\u0000${key}\u0000${commandFingerprint}\u0000${index}`)
    const metadata = eventMetadataFor(command.metadata, ids.commandId)
    let lastConflict: unknown
    let loaded: LoadedAggregate<S, E> | undefined
    for (let attempt = 1; attempt <= retry.maxAttempts; attempt++) {
      // A retry folds only the events appended since the version it had (the winner's), not the whole
      // stream again: on a hot stream every loser would otherwise re-read from its snapshot.
      loaded = loaded ? await catchUp(typed, options.store, loaded) : await load(streamId)
      let decided: readonly E[]
      try {
        decided = toEventArray(typed.decide(command, loaded.state))
      } catch (error) {
        // A keyed command whose first run committed may now be refused by the rules it changed.
        if (key !== undefined && isDomainError(error)) {
          const previous = await recover(streamId, eventIdFor, ids)
          if (previous) return previous
        }
        throw error
      }
      if (decided.length === 0) {
        return { streamId, state: loaded.state, events: [], version: loaded.version, replayed: false, ...ids }
      }
      const toAppend: NewEvent<E>[] = decided.map((event, index) => ({
        ...aggregate.events.encode({ type: event.type, data: event.data } as NewEvent<E>),
        eventId: eventIdFor(index),
        metadata,
      }))
      // Checked to be a bigint in handle().
      const expectedVersion: ExpectedVersion = (handleOptions?.expectedVersion as bigint | undefined) ?? loaded.version
      let appended: AppendResult<E>
      try {
        appended = await options.store.appendToStream<E>(streamId, toAppend, { expectedVersion })
      } catch (error) {
        if (isConcurrencyError(error) && handleOptions?.expectedVersion === undefined) {
          lastConflict = error
          if (attempt < retry.maxAttempts) await sleep(retryDelay(attempt))
          continue
        }
        if (key !== undefined && isDuplicateEventIdError(error)) {
          const previous = await recover(streamId, eventIdFor, ids)
          if (previous) return previous
        }
        throw error
      }
      if (appended.duplicate) {
        const to = appended.nextExpectedVersion
        return rebuild(streamId, to - BigInt(toAppend.length) + 1n, to, ids)
      }
      const recorded = appended.events.map((e) => aggregate.events.decode(e))
      let state = loaded.state
      for (const event of recorded) state = typed.evolve(state, event)
      await saveSnapshotIfDue(streamId, state, loaded, recorded)
      return { streamId, state, events: recorded, version: appended.nextExpectedVersion, replayed: false, ...ids }
    }
    throw new RetriesExhaustedError(streamId, retry.maxAttempts, { cause: lastConflict })
  }

  async function handle(input: CIn, handleOptions?: HandleOptions): Promise<CommandResult<S, E>> {
    if (handleOptions?.expectedVersion !== undefined) {
      const expected = checkExpectedVersion(handleOptions.expectedVersion)
      if (typeof expected !== 'bigint') {
        throw new InvalidArgumentError(
          'expectedVersion',
          `must be the stream version the caller saw, a bigint such as 1n`,
        )
      }
    }
    const command = aggregate.commands.parse(input)
    const streamId = handleOptions?.streamId ?? aggregate.streamId?.(command)
    if (typeof streamId !== 'string' || streamId.length === 0) {
      throw new InvalidArgumentError(
        'stream id',
        `aggregate "${aggregate.name}" has no streamId(command) and none was passed to handle()`,
      )
    }
    const key = command.metadata?.idempotencyKey
    if (key !== undefined && (typeof key !== 'string' || key.length === 0)) {
      throw new InvalidArgumentError('metadata.idempotencyKey', 'must be a non-empty string')
    }
    const commandFingerprint = fingerprint({ type: command.type, data: command.data })
    const commandId =
      command.metadata?.commandId ?? (key === undefined ? newId() : deterministicId(`command\u0000${key}`))
    const ids = { commandId, correlationId: command.metadata?.correlationId ?? commandId }
    if (key === undefined || !options.idempotency) {
      return run(command, streamId, handleOptions, key, commandFingerprint, ids)
    }
    let firstRun: CommandResult<S, E> | undefined
    const { result, replayed } = await options.idempotency.execute<StoredOutcome>(key, commandFingerprint, async () => {
      firstRun = await run(command, streamId, handleOptions, key, commandFingerprint, ids)
      return {
        streamId: firstRun.streamId,
        fromVersion: firstRun.events[0]?.streamVersion.toString() ?? null,
        toVersion: firstRun.version.toString(),
        commandId: firstRun.commandId,
        correlationId: firstRun.correlationId,
      }
    })
    if (!replayed && firstRun) return firstRun
    return rebuild(
      result.streamId,
      result.fromVersion === null ? null : BigInt(result.fromVersion),
      BigInt(result.toVersion),
      {
        commandId: result.commandId,
        correlationId: result.correlationId,
      },
    )
  }

  return Object.freeze({ aggregate, handle, load })
}
