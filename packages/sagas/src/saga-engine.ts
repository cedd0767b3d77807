import {
  type AnyAggregate,
  type Command,
  type CommandHandler,
  type CommandMetadata,
  createCommandHandler,
  createEventRegistry,
  deterministicId,
  type EventRegistry,
  type EventStore,
  type IdempotencyStore,
  isAnnalsError,
  isConcurrencyError,
  isDomainError,
  isDuplicateEventIdError,
  isValidationError,
  parseSchema,
  type RecordedEvent,
  type RetryPolicy,
  type SnapshotStore,
  type StreamId,
} from '@annals/core'
import { InvalidSagaOptionError, UnknownSagaError } from './errors.js'
import { type SagaLogger, silentLogger } from './logger.js'
import {
  type AnySagaDefinition,
  type SagaContext,
  type SagaDefinition,
  type SagaStep,
  sagaStreamId,
} from './saga-definition.js'
import type { RecordedError, SagaEvent } from './saga-events.js'
import { foldSaga, nextSagaAction, type SagaState, type SagaStatus } from './saga-state.js'

/** A point where a crash must be survivable; test hooks may stop the process there. @internal */
export type SagaBoundary = Readonly<{
  point: 'appended' | 'command-executed' | 'compensation-executed'
  saga: string
  sagaId: string
  /** The saga event just appended (for `appended`). */
  eventType?: string
  step?: string
}>

/** Hooks for tests and tracing. @internal */
export type SagaHooks = Readonly<{ boundary?: (boundary: SagaBoundary) => void | Promise<void> }>

/** What {@link createSagaEngine} needs: the event store (which holds saga streams too) and the sagas. */
export type SagaEngineOptions = Readonly<{
  store: EventStore
  sagas: readonly AnySagaDefinition[]
  /** Given to the command handlers of the steps' aggregates (recommended: repeated keys return the first result). */
  idempotency?: IdempotencyStore
  snapshots?: SnapshotStore
  retry?: RetryPolicy
  logger?: SagaLogger
  /** @internal */
  hooks?: SagaHooks
}>

/** Options of {@link SagaEngine.start}. */
export type StartSagaOptions = Readonly<{
  /** The instance id; default the definition's `sagaId(input)`. */
  sagaId?: string
  /** Default: the causing event's correlation id, else a new one derived from the saga stream. */
  correlationId?: string
  /** The event that started the saga (trigger): its id becomes the causation id. */
  causedBy?: RecordedEvent
}>

/** What {@link SagaEngine.start} did. `started` is false when the instance already existed. */
export type StartSagaResult = Readonly<{ saga: string; sagaId: string; streamId: StreamId; started: boolean }>

/** Where a saga stands after {@link SagaEngine.drive}. */
export type DriveResult = Readonly<{
  saga: string
  sagaId: string
  status: SagaStatus
  version: bigint
  /** When to drive again without an event (a step's deadline); null when only an event (or nothing) can move it. */
  wakeAt: Date | null
  /** The step in progress (forward or being undone), null once ended. */
  currentStep: string | null
}>

/** A saga instance an event was delivered to. */
export type Delivery = Readonly<{ saga: string; sagaId: string; step: string }>

/** Runs saga instances on the core ports: each action is recorded in the saga's stream before and after it runs. */
export interface SagaEngine {
  readonly sagas: ReadonlyMap<string, AnySagaDefinition>
  /** Event types the engine must see from the log: saga triggers and awaited outcomes. */
  readonly handledTypes: readonly string[]
  /** Starts an instance (idempotent per saga id): records `SagaStarted`; `drive` runs it. */
  start<In, I>(saga: SagaDefinition<In, I> | string, input: In, options?: StartSagaOptions): Promise<StartSagaResult>
  /** Runs an instance as far as it can go now: until it ends or waits for an event or a deadline. */
  drive(saga: string, sagaId: string, options?: Readonly<{ now?: Date }>): Promise<DriveResult>
  /** Hands an event from the log to the instances awaiting it (idempotent); returns whom it reached. */
  deliver(event: RecordedEvent): Promise<readonly Delivery[]>
  /** Starts the sagas an event triggers (idempotent per event). */
  trigger(event: RecordedEvent): Promise<readonly StartSagaResult[]>
  /** An instance's state, or null when it does not exist. */
  load(saga: string, sagaId: string): Promise<SagaState | null>
  /** An instance's full history (its stream). */
  history(saga: string, sagaId: string): Promise<readonly RecordedEvent<SagaEvent>[]>
}

const INVALID_COMMAND_CODES = new Set([
  'ANNALS_ERR_VALIDATION',
  'ANNALS_ERR_UNKNOWN_COMMAND_TYPE',
  'ANNALS_ERR_INVALID_ARGUMENT',
  'ANNALS_ERR_IDEMPOTENCY_KEY_REUSED',
])

/** How a command sent by a saga ended, when it ended at all (infrastructure errors are thrown instead). */
type CommandOutcome =
  | Readonly<{ ok: true; version: bigint }>
  | Readonly<{ ok: false; reason: 'rejected' | 'invalid'; error: RecordedError }>

function recordError(error: unknown): RecordedError {
  const raw = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  const code = typeof raw === 'string' ? raw : 'UNKNOWN'
  return { code, message: error instanceof Error ? error.message : String(error) }
}

function classify(error: unknown): CommandOutcome | null {
  if (isDomainError(error)) return { ok: false, reason: 'rejected', error: recordError(error) }
  if (isValidationError(error) || (isAnnalsError(error) && INVALID_COMMAND_CODES.has(error.code))) {
    return { ok: false, reason: 'invalid', error: recordError(error) }
  }
  return null
}

/**
 * Creates the saga engine. The worker in `@annals/sagas/postgres` calls it for you; use it directly
 * with the in-memory adapters in tests.
 * @example
 * const engine = createSagaEngine({ store, sagas: [transfer] })
 * const { sagaId } = await engine.start(transfer, { transferId, from, to, amount })
 * await engine.drive('transfer', sagaId)
 */
export function createSagaEngine(options: SagaEngineOptions): SagaEngine {
  const { store } = options
  const log = options.logger ?? silentLogger
  const hooks = options.hooks
  const sagas = new Map<string, AnySagaDefinition>()
  for (const saga of options.sagas) {
    if (sagas.has(saga.name)) throw new InvalidSagaOptionError('sagas', `two sagas are named "${saga.name}"`)
    sagas.set(saga.name, saga)
  }
  const handlers = new Map<AnyAggregate, CommandHandler<unknown, Command, never, Command>>()
  const registries = new Map<object, EventRegistry>()

  const handledTypes = new Set<string>()
  for (const saga of sagas.values()) {
    for (const trigger of saga.startedBy) handledTypes.add(trigger.type)
    for (const step of saga.steps) {
      for (const type of [...(step.awaits?.success ?? []), ...(step.awaits?.failure ?? [])]) handledTypes.add(type)
    }
  }

  function definitionOf(name: string): AnySagaDefinition {
    const saga = sagas.get(name)
    if (!saga) throw new UnknownSagaError(name, [...sagas.keys()])
    return saga
  }

  function handlerFor(aggregate: AnyAggregate) {
    let handler = handlers.get(aggregate)
    if (!handler) {
      handler = createCommandHandler(aggregate, {
        store,
        ...(options.idempotency ? { idempotency: options.idempotency } : {}),
        ...(options.snapshots ? { snapshots: options.snapshots } : {}),
        ...(options.retry ? { retry: options.retry } : {}),
      }) as unknown as CommandHandler<unknown, Command, never, Command>
      handlers.set(aggregate, handler)
    }
    return handler
  }

  function decode(
    owner: object,
    definitions: readonly Parameters<typeof createEventRegistry>[0][number][],
    event: RecordedEvent,
  ) {
    if (definitions.length === 0) return event
    let registry = registries.get(owner)
    if (!registry) {
      registry = createEventRegistry(definitions)
      registries.set(owner, registry)
    }
    return registry.has(event.type) ? registry.decode(event) : event
  }

  async function history(saga: string, sagaId: string): Promise<readonly RecordedEvent<SagaEvent>[]> {
    definitionOf(saga)
    const read = await store.readStream<SagaEvent>(sagaStreamId(saga, sagaId))
    return read.events
  }

  async function load(saga: string, sagaId: string): Promise<SagaState | null> {
    return foldSaga(await history(saga, sagaId), definitionOf(saga))
  }

  async function start<In, I>(
    sagaOrName: SagaDefinition<In, I> | string,
    input: In,
    startOptions?: StartSagaOptions,
  ): Promise<StartSagaResult> {
    const saga = definitionOf(typeof sagaOrName === 'string' ? sagaOrName : sagaOrName.name)
    const parsed = parseSchema(saga.input, input, `input of saga "${saga.name}"`)
    const sagaId = startOptions?.sagaId ?? saga.sagaId?.(parsed)
    if (typeof sagaId !== 'string' || sagaId.length === 0) {
      throw new InvalidSagaOptionError(
        'sagaId',
        `saga "${saga.name}" has no sagaId(input): pass start(..., { sagaId })`,
      )
    }
    const streamId = sagaStreamId(saga.name, sagaId)
    const cause = startOptions?.causedBy
    const correlationId =
      startOptions?.correlationId ??
      cause?.metadata.correlationId ??
      cause?.eventId ??
      deterministicId(`saga\u0000${streamId}`)
    try {
      const result = await store.appendToStream<SagaEvent>(
        streamId,
        [
          {
            type: 'SagaStarted',
            data: {
              saga: saga.name,
              sagaId,
              // The raw input is kept and re-validated on every load, so ctx.input is always the schema's output.
              input: JSON.parse(JSON.stringify(input ?? null)),
              steps: saga.steps.map((s) => s.name),
              triggeredBy: cause?.eventId ?? null,
            },
            eventId: deterministicId(`saga-started\u0000${streamId}`),
            metadata: { correlationId, ...(cause ? { causationId: cause.eventId } : {}) },
          },
        ],
        { expectedVersion: 'no-stream' },
      )
      const started = !result.duplicate
      if (started) {
        log.info({ saga: saga.name, sagaId }, 'saga started')
        await hooks?.boundary?.({ point: 'appended', saga: saga.name, sagaId, eventType: 'SagaStarted' })
      }
      return { saga: saga.name, sagaId, streamId, started }
    } catch (error) {
      if (isConcurrencyError(error) || isDuplicateEventIdError(error)) {
        return { saga: saga.name, sagaId, streamId, started: false }
      }
      throw error
    }
  }

  async function drive(
    sagaName: string,
    sagaId: string,
    driveOptions?: Readonly<{ now?: Date }>,
  ): Promise<DriveResult> {
    const saga = definitionOf(sagaName)
    const streamId = sagaStreamId(saga.name, sagaId)
    const now = () => driveOptions?.now ?? new Date()
    // Each pass records at most one saga event, so a bound proportional to the steps only stops a bug from spinning.
    const maxPasses = saga.steps.length * 12 + 20
    for (let pass = 0; pass < maxPasses; pass++) {
      const events = (await store.readStream<SagaEvent>(streamId)).events
      const state = foldSaga(events, saga)
      if (!state) throw new InvalidSagaOptionError('sagaId', `saga "${saga.name}" has no instance "${sagaId}"`)
      const input = parseSchema(saga.input, state.input, `input of saga "${saga.name}"`)
      const ctx: SagaContext<unknown> = { sagaId, input }
      const action = nextSagaAction(saga, state, now())
      const current = (): string | null => {
        if (state.status === 'running') return state.steps.find((s) => s.status !== 'succeeded')?.name ?? null
        if (state.status === 'compensating') {
          const s =
            state.steps.find((x) => x.status === 'compensating') ??
            [...state.steps].reverse().find((x) => x.tookEffect && x.status !== 'compensated')
          return s?.name ?? null
        }
        return null
      }
      if (action.kind === 'done' || action.kind === 'wait') {
        return {
          saga: saga.name,
          sagaId,
          status: state.status,
          version: state.version,
          wakeAt: action.kind === 'wait' ? action.until : null,
          currentStep: current(),
        }
      }
      const append = async (event: SagaEvent, idName: string, causationId?: string): Promise<boolean> => {
        try {
          await store.appendToStream<SagaEvent>(
            streamId,
            [
              {
                ...event,
                eventId: deterministicId(`${streamId}\u0000${idName}`),
                metadata: {
                  ...(state.correlationId ? { correlationId: state.correlationId } : {}),
                  ...(causationId ? { causationId } : {}),
                },
              },
            ],
            { expectedVersion: state.version },
          )
        } catch (error) {
          // Someone else moved the saga (another worker, or an event delivery): re-read and decide again.
          if (isConcurrencyError(error) || isDuplicateEventIdError(error)) return false
          throw error
        }
        log.debug({ saga: saga.name, sagaId, event: event.type }, 'saga progressed')
        await hooks?.boundary?.({
          point: 'appended',
          saga: saga.name,
          sagaId,
          eventType: event.type,
          ...('step' in event.data ? { step: event.data.step } : {}),
        })
        return true
      }
      const stepOf = (index: number) => ({ def: saga.steps[index] as SagaStep<unknown>, st: state.steps[index] })

      switch (action.kind) {
        case 'issue': {
          const { def, st } = stepOf(action.step)
          const attempt = (st?.attempt ?? 0) + 1
          const idempotencyKey = `saga:${saga.name}:${sagaId}:${def.name}:${attempt}`
          const built = buildCommand(def, def.command, ctx)
          if (!built.ok) {
            await append(
              {
                type: 'StepFailed',
                data: { step: def.name, index: action.step, attempt, reason: 'invalid', error: built.error },
              },
              `failed\u0000${action.step}\u0000${attempt}`,
            )
            break
          }
          await append(
            {
              type: 'StepCommandIssued',
              data: {
                step: def.name,
                index: action.step,
                attempt,
                streamId: built.streamId,
                command: built.command,
                idempotencyKey,
              },
            },
            `issued\u0000${action.step}\u0000${attempt}`,
          )
          break
        }
        case 'execute': {
          const { def, st } = stepOf(action.step)
          const issued = st?.issued
          if (!issued || !st) break
          const issuedEventId = deterministicId(`${streamId}\u0000issued\u0000${action.step}\u0000${issued.attempt}`)
          const outcome = await send(def.aggregate, issued, issued.idempotencyKey, issuedEventId, state)
          await hooks?.boundary?.({ point: 'command-executed', saga: saga.name, sagaId, step: def.name })
          const tag = `${action.step}\u0000${issued.attempt}`
          if (!outcome.ok) {
            await append(
              {
                type: 'StepFailed',
                data: {
                  step: def.name,
                  index: action.step,
                  attempt: issued.attempt,
                  reason: outcome.reason,
                  error: outcome.error,
                },
              },
              `failed\u0000${tag}`,
              issuedEventId,
            )
          } else if (def.awaits) {
            const deadlineMs = def.awaits.deadlineMs
            const issuedAt = st.issuedAt ?? now()
            await append(
              {
                type: 'StepAccepted',
                data: {
                  step: def.name,
                  index: action.step,
                  attempt: issued.attempt,
                  deadlineAt: deadlineMs === undefined ? null : new Date(issuedAt.getTime() + deadlineMs).toISOString(),
                  version: outcome.version.toString(),
                },
              },
              `accepted\u0000${tag}`,
              issuedEventId,
            )
          } else {
            await append(
              {
                type: 'StepSucceeded',
                data: { step: def.name, index: action.step, attempt: issued.attempt, via: 'command', eventId: null },
              },
              `succeeded\u0000${tag}`,
              issuedEventId,
            )
          }
          break
        }
        case 'resolve': {
          const { def, st } = stepOf(action.step)
          const received = st?.received
          if (!received || !st) break
          const tag = `${action.step}\u0000${st.attempt}`
          if (received.outcome === 'success') {
            await append(
              {
                type: 'StepSucceeded',
                data: {
                  step: def.name,
                  index: action.step,
                  attempt: st.attempt,
                  via: 'event',
                  eventId: received.eventId,
                },
              },
              `succeeded\u0000${tag}`,
              received.eventId,
            )
          } else {
            await append(
              {
                type: 'StepFailed',
                data: {
                  step: def.name,
                  index: action.step,
                  attempt: st.attempt,
                  reason: 'event',
                  error: { code: 'STEP_REFUSED', message: `refused by ${received.eventType} (${received.eventId})` },
                },
              },
              `failed\u0000${tag}`,
              received.eventId,
            )
          }
          break
        }
        case 'time-out': {
          const { def, st } = stepOf(action.step)
          if (!st) break
          await append(
            {
              type: 'StepFailed',
              data: {
                step: def.name,
                index: action.step,
                attempt: st.attempt,
                reason: 'timeout',
                error: {
                  code: 'STEP_TIMEOUT',
                  message: `no outcome before the deadline ${st.deadlineAt?.toISOString() ?? ''}`,
                },
              },
            },
            `failed\u0000${action.step}\u0000${st.attempt}`,
          )
          break
        }
        case 'complete':
          if (await append({ type: 'SagaCompleted', data: {} }, 'completed')) {
            log.info({ saga: saga.name, sagaId }, 'saga completed')
          }
          break
        case 'compensate': {
          const { def } = stepOf(action.step)
          const compensate = def.compensate
          if (!compensate) break
          const built = buildCommand(def, compensate, ctx)
          if (!built.ok) {
            await append(
              { type: 'CompensationFailed', data: { step: def.name, index: action.step, error: built.error } },
              `compensation-failed\u0000${action.step}`,
            )
            break
          }
          await append(
            {
              type: 'CompensationIssued',
              data: {
                step: def.name,
                index: action.step,
                streamId: built.streamId,
                command: built.command,
                idempotencyKey: `saga:${saga.name}:${sagaId}:${def.name}:compensate`,
              },
            },
            `compensation-issued\u0000${action.step}`,
          )
          break
        }
        case 'execute-compensation': {
          const { def, st } = stepOf(action.step)
          const issued = st?.compensation
          if (!issued) break
          const issuedEventId = deterministicId(`${streamId}\u0000compensation-issued\u0000${action.step}`)
          const outcome = await send(def.aggregate, issued, issued.idempotencyKey, issuedEventId, state)
          await hooks?.boundary?.({ point: 'compensation-executed', saga: saga.name, sagaId, step: def.name })
          if (outcome.ok) {
            await append(
              { type: 'Compensated', data: { step: def.name, index: action.step } },
              `compensated\u0000${action.step}`,
              issuedEventId,
            )
          } else {
            await append(
              { type: 'CompensationFailed', data: { step: def.name, index: action.step, error: outcome.error } },
              `compensation-failed\u0000${action.step}`,
              issuedEventId,
            )
          }
          break
        }
        case 'end':
          if (action.outcome === 'compensated') {
            if (await append({ type: 'SagaCompensated', data: { failedStep: state.failedStep ?? '' } }, 'ended')) {
              log.info({ saga: saga.name, sagaId, failedStep: state.failedStep }, 'saga compensated')
            }
          } else if (await append({ type: 'SagaFailed', data: { reason: action.reason } }, 'ended')) {
            log.warn({ saga: saga.name, sagaId, reason: action.reason }, 'saga failed: needs attention')
          }
          break
      }
    }
    throw new InvalidSagaOptionError('drive', `saga "${saga.name}" instance "${sagaId}" did not settle`)
  }

  function buildCommand(
    def: SagaStep<unknown>,
    make: (ctx: SagaContext<unknown>) => Command,
    ctx: SagaContext<unknown>,
  ):
    | Readonly<{ ok: true; command: { type: string; data: unknown }; streamId: string }>
    | Readonly<{ ok: false; error: RecordedError }> {
    try {
      const command = make(ctx)
      const streamId = def.streamId?.(ctx) ?? def.aggregate.streamId?.(def.aggregate.commands.parse(command))
      if (typeof streamId !== 'string' || streamId.length === 0) {
        return {
          ok: false,
          error: {
            code: 'ANNALS_ERR_INVALID_ARGUMENT',
            message: `step "${def.name}": aggregate "${def.aggregate.name}" has no streamId(command); give the step a streamId`,
          },
        }
      }
      // Stored as JSON so that the re-issue after a crash sends exactly this command.
      return { ok: true, command: JSON.parse(JSON.stringify({ type: command.type, data: command.data })), streamId }
    } catch (error) {
      const outcome = classify(error)
      if (outcome && !outcome.ok) return { ok: false, error: outcome.error }
      throw error
    }
  }

  async function send(
    aggregate: AnyAggregate,
    issued: Readonly<{ streamId: string; command: { type: string; data: unknown } }>,
    idempotencyKey: string,
    causationId: string,
    state: SagaState,
  ): Promise<CommandOutcome> {
    const metadata: CommandMetadata = {
      idempotencyKey,
      causationId,
      ...(state.correlationId ? { correlationId: state.correlationId } : {}),
      saga: state.saga,
      sagaId: state.sagaId,
    }
    try {
      const result = await handlerFor(aggregate).handle(
        { type: issued.command.type, data: issued.command.data, metadata },
        { streamId: issued.streamId },
      )
      return { ok: true, version: result.version }
    } catch (error) {
      const outcome = classify(error)
      if (outcome) return outcome
      throw error
    }
  }

  async function deliver(event: RecordedEvent): Promise<readonly Delivery[]> {
    const out: Delivery[] = []
    for (const saga of sagas.values()) {
      for (let index = 0; index < saga.steps.length; index++) {
        const step = saga.steps[index] as SagaStep<unknown>
        const awaits = step.awaits
        if (!awaits) continue
        const outcome = awaits.success.includes(event.type)
          ? 'success'
          : awaits.failure.includes(event.type)
            ? 'failure'
            : null
        if (!outcome) continue
        const sagaId = awaits.sagaId(decode(awaits, awaits.definitions, event))
        if (typeof sagaId !== 'string' || sagaId.length === 0) continue
        const streamId = sagaStreamId(saga.name, sagaId)
        const exists = await store.readStream(streamId, { limit: 1 })
        if (!exists.streamExists) continue
        try {
          await store.appendToStream<SagaEvent>(
            streamId,
            [
              {
                type: 'StepEventReceived',
                data: { step: step.name, index, eventId: event.eventId, eventType: event.type, outcome },
                eventId: deterministicId(`${streamId}\u0000received\u0000${index}\u0000${event.eventId}`),
                metadata: {
                  ...(event.metadata.correlationId ? { correlationId: event.metadata.correlationId } : {}),
                  causationId: event.eventId,
                },
              },
            ],
            { expectedVersion: 'any' },
          )
        } catch (error) {
          if (!isDuplicateEventIdError(error)) throw error
        }
        out.push({ saga: saga.name, sagaId, step: step.name })
      }
    }
    return out
  }

  async function trigger(event: RecordedEvent): Promise<readonly StartSagaResult[]> {
    const out: StartSagaResult[] = []
    for (const saga of sagas.values()) {
      for (const t of saga.startedBy) {
        if (t.type !== event.type) continue
        const typed = decode(t, t.definition ? [t.definition] : [], event)
        const input = t.input(typed)
        const parsed = parseSchema(saga.input, input, `input of saga "${saga.name}"`)
        const sagaId = t.sagaId?.(typed) ?? saga.sagaId?.(parsed) ?? event.eventId
        out.push(await start(saga, input, { sagaId, causedBy: event }))
      }
    }
    return out
  }

  return Object.freeze({
    sagas,
    handledTypes: Object.freeze([...handledTypes]),
    start,
    drive,
    deliver,
    trigger,
    load,
    history,
  })
}
