import { parseSchema, type RecordedEvent, silentLogger } from '@annals/core'
import { InvalidSagaOptionError, UnknownSagaError } from '../errors.js'
import { type AnySagaDefinition, type SagaDefinition, sagaStreamId } from '../saga-definition.js'
import type { SagaEvent } from '../saga-events.js'
import { foldSaga, nextSagaAction, type SagaState } from '../saga-state.js'
import { runSagaAction } from './actions/run-saga-action.js'
import { deliverEvent } from './deliver-event.js'
import { createEventDecoder } from './event-decoder.js'
import { createSagaDrive, currentStep } from './saga-drive.js'
import type {
  Delivery,
  DriveResult,
  SagaEngine,
  SagaEngineOptions,
  StartSagaOptions,
  StartSagaResult,
} from './saga-engine-types.js'
import { startSagaInstance } from './start-saga-instance.js'
import { createStepCommands } from './step-commands.js'

/**
 * Creates the saga engine. The worker in `@annals/sagas/postgres` calls it for you; use it directly
 * with the in-memory adapters in tests.
 * @example
 * const engine = createSagaEngine({ store, sagas: [transfer] })
 * const { sagaId } = await engine.start(transfer, { transferId, from, to, amount })
 * await engine.drive('transfer', sagaId)
 */
export function createSagaEngine(options: SagaEngineOptions): SagaEngine {
  const { store, hooks } = options
  const log = options.logger ?? silentLogger
  const sagas = new Map<string, AnySagaDefinition>()
  for (const saga of options.sagas) {
    if (sagas.has(saga.name)) throw new InvalidSagaOptionError('sagas', `two sagas are named "${saga.name}"`)
    sagas.set(saga.name, saga)
  }
  const commands = createStepCommands(options)
  const decode = createEventDecoder()

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
    return startSagaInstance({ store, log, hooks }, saga, sagaId, input, startOptions)
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
      const action = nextSagaAction(saga, state, now())
      if (action.kind === 'done' || action.kind === 'wait') {
        return {
          saga: saga.name,
          sagaId,
          status: state.status,
          version: state.version,
          wakeAt: action.kind === 'wait' ? action.until : null,
          currentStep: currentStep(state),
        }
      }
      const ctx = { sagaId, input }
      await runSagaAction(
        createSagaDrive({ store, saga, sagaId, streamId, state, ctx, now, commands, log, boundary: hooks?.boundary }),
        action,
      )
    }
    throw new InvalidSagaOptionError('drive', `saga "${saga.name}" instance "${sagaId}" did not settle`)
  }

  function deliver(event: RecordedEvent): Promise<readonly Delivery[]> {
    return deliverEvent({ store, decode }, sagas.values(), event)
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
