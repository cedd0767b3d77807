import type {
  EventStore,
  IdempotencyStore,
  Logger,
  RecordedEvent,
  RetryPolicy,
  SnapshotStore,
  StreamId,
} from '@annals/core'
import type { AnySagaDefinition, SagaDefinition } from '../saga-definition.js'
import type { SagaEvent } from '../saga-events.js'
import type { SagaState, SagaStatus } from '../saga-state.js'

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
  logger?: Logger
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
