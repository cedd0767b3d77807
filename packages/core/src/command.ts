import { definitionsByType } from './definitions-by-type.js'
import { InvalidArgumentError, UnknownCommandTypeError } from './errors.js'
import { parseSchema, type Schema } from './schema.js'

/**
 * Metadata a command may carry. `causationId` (the id of the event a reaction answers, set by
 * `causedBy`) becomes the `causationId` of the events it produces, and without one the `commandId`
 * does; `correlationId` is copied to them (a command without one starts a new correlation, its own id);
 * `idempotencyKey` makes the command safe to send twice. Other keys are the application's own
 * (JSON-serialisable) and are copied into the events' metadata.
 */
export type CommandMetadata = Readonly<{
  commandId?: string
  correlationId?: string
  causationId?: string
  idempotencyKey?: string
  [key: string]: unknown
}>

/** A command: an imperative `type` discriminant, its data and optional metadata. */
export type Command<T extends string = string, D = unknown> = Readonly<{
  type: T
  data: D
  metadata?: CommandMetadata
}>

/**
 * A command type defined once with a schema. `In` is what callers send, `Out` what `decide` sees
 * after validation (they differ only when the schema has defaults or transforms).
 */
export interface CommandDefinition<T extends string = string, In = unknown, Out = In> {
  readonly kind: 'command'
  readonly type: T
  readonly schema: Schema<In, Out>
  /** Type-level only (always undefined): the validated command type. */
  readonly $command?: Command<T, Out>
  /** Type-level only (always undefined): the command type callers send. */
  readonly $input?: Command<T, In>
  /** Builds a command value (validation happens when it is handled, or with {@link CommandDefinition.parse}). */
  create(data: In, metadata?: CommandMetadata): Command<T, In>
  /** Validates a command's data; throws `ValidationError` whose issues name the field paths (relative to `data`). */
  parse(command: Command<T, unknown>): Command<T, Out>
  /** True when `command` is of this type (narrows). */
  is(command: Command): command is Command<T, Out>
}

/** Any command definition (for generic plumbing). */
export type AnyCommandDefinition = CommandDefinition<string, unknown, unknown>

/** The validated command type (what `decide` receives) of a command definition. */
export type CommandOf<D> = D extends CommandDefinition<infer T, infer _In, infer Out> ? Command<T, Out> : never

/** The validated command union of a list of definitions (indexed access keeps literal types during inference). */
export type CommandUnionOf<Defs extends readonly AnyCommandDefinition[]> = NonNullable<Defs[number]['$command']>

/** The union of command types callers send, for a list of definitions. */
export type CommandInputUnionOf<Defs extends readonly AnyCommandDefinition[]> = NonNullable<Defs[number]['$input']>

/** The command type callers send (schema input) of a command definition. */
export type CommandInputOf<D> = D extends CommandDefinition<infer T, infer In, infer _Out> ? Command<T, In> : never

/**
 * Defines a command type with its schema.
 * @example
 * const DepositMoney = defineCommand('DepositMoney', z.object({ accountId: z.string(), amount: z.number().positive() }))
 */
export function defineCommand<const T extends string, In, Out>(
  type: T,
  schema: Schema<In, Out>,
): CommandDefinition<T, In, Out> {
  if (typeof type !== 'string' || type.length === 0) {
    throw new InvalidArgumentError('command type', 'must be a non-empty string')
  }
  return Object.freeze({
    kind: 'command' as const,
    type,
    schema,
    create(data: In, metadata?: CommandMetadata): Command<T, In> {
      return metadata === undefined ? { type, data } : { type, data, metadata }
    },
    parse(command: Command<T, unknown>): Command<T, Out> {
      const data = parseSchema(schema, command.data, `command "${type}"`)
      return command.metadata === undefined ? { type, data } : { type, data, metadata: command.metadata }
    },
    is(command: Command): command is Command<T, Out> {
      return command.type === type
    },
  })
}

/** The commands an aggregate accepts: validates incoming commands by type. */
export interface CommandRegistry<C extends Command = Command> {
  readonly types: readonly C['type'][]
  has(type: string): type is C['type']
  /**
   * Validates `command`: throws `ANNALS_ERR_UNKNOWN_COMMAND_TYPE` for a type not declared, and
   * `ValidationError` (issues name the field paths) for invalid data.
   */
  parse(command: Command): C
}

/** Builds a command registry; `owner` names the aggregate in error messages. */
export function createCommandRegistry<const Defs extends readonly AnyCommandDefinition[]>(
  definitions: Defs,
  owner = 'aggregate',
): CommandRegistry<CommandUnionOf<Defs>> {
  type C = CommandUnionOf<Defs>
  const byType = definitionsByType<AnyCommandDefinition>(definitions, 'command')
  return Object.freeze({
    types: Object.freeze([...byType.keys()]) as readonly C['type'][],
    has(type: string): type is C['type'] {
      return byType.has(type)
    },
    parse(command: Command): C {
      if (typeof command !== 'object' || command === null || typeof command.type !== 'string') {
        throw new InvalidArgumentError('command', 'must be an object with a string "type"')
      }
      const definition = byType.get(command.type)
      if (!definition) throw new UnknownCommandTypeError(command.type, owner)
      return definition.parse(command) as C
    },
  })
}
