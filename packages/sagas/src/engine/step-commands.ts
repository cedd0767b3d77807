import {
  type AnyAggregate,
  type Command,
  type CommandMetadata,
  isAnnalsError,
  isDomainError,
  isValidationError,
} from '@annals/core'
import { type CommandHandlerStores, commandHandlersByAggregate } from '../command-handlers.js'
import type { SagaContext, SagaStep } from '../saga-definition.js'
import type { RecordedCommand, RecordedError } from '../saga-events.js'
import type { SagaState } from '../saga-state.js'

const INVALID_COMMAND_CODES = new Set([
  'ANNALS_ERR_VALIDATION',
  'ANNALS_ERR_UNKNOWN_COMMAND_TYPE',
  'ANNALS_ERR_INVALID_ARGUMENT',
  'ANNALS_ERR_IDEMPOTENCY_KEY_REUSED',
])

/** How a command sent by a saga ended, when it ended at all (infrastructure errors are thrown instead). */
export type CommandOutcome =
  | Readonly<{ ok: true; version: bigint }>
  | Readonly<{ ok: false; reason: 'rejected' | 'invalid'; error: RecordedError }>

/** A step's command as built from its definition, or why it could not be built. */
export type BuiltCommand =
  | Readonly<{ ok: true; command: RecordedCommand; streamId: string }>
  | Readonly<{ ok: false; error: RecordedError }>

/** A command recorded in the saga's stream, ready to be (re-)sent. */
export type IssuedCommand = Readonly<{ streamId: string; command: RecordedCommand; idempotencyKey: string }>

/** Builds the steps' commands and sends them through the aggregates' command handlers. @internal */
export interface StepCommands {
  build(def: SagaStep<unknown>, make: (ctx: SagaContext<unknown>) => Command, ctx: SagaContext<unknown>): BuiltCommand
  send(aggregate: AnyAggregate, issued: IssuedCommand, causationId: string, state: SagaState): Promise<CommandOutcome>
}

function recordError(error: unknown): RecordedError {
  const raw = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  const code = typeof raw === 'string' ? raw : 'UNKNOWN'
  return { code, message: error instanceof Error ? error.message : String(error) }
}

// Refusals and invalid commands are outcomes the saga records; anything else (infrastructure) is thrown.
function classify(error: unknown): Exclude<CommandOutcome, { ok: true }> | null {
  if (isDomainError(error)) return { ok: false, reason: 'rejected', error: recordError(error) }
  if (isValidationError(error) || (isAnnalsError(error) && INVALID_COMMAND_CODES.has(error.code))) {
    return { ok: false, reason: 'invalid', error: recordError(error) }
  }
  return null
}

/** @internal One command handler per aggregate, created on first use. */
export function createStepCommands(options: CommandHandlerStores): StepCommands {
  const handlerFor = commandHandlersByAggregate(options)

  return {
    build(def, make, ctx) {
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
        if (outcome) return { ok: false, error: outcome.error }
        throw error
      }
    },

    async send(aggregate, issued, causationId, state) {
      const metadata: CommandMetadata = {
        idempotencyKey: issued.idempotencyKey,
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
    },
  }
}
