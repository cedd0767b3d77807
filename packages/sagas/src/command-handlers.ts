import {
  type AnyAggregate,
  type Command,
  type CommandHandler,
  createCommandHandler,
  type EventStore,
  type IdempotencyStore,
  type RetryPolicy,
  type SnapshotStore,
} from '@annals/core'

/** What the command handlers of sagas and reactors are built with. @internal */
export type CommandHandlerStores = Readonly<{
  store: EventStore
  idempotency?: IdempotencyStore
  snapshots?: SnapshotStore
  retry?: RetryPolicy
}>

/**
 * One command handler per aggregate, created on first use: saga steps and reactors send commands to
 * whatever aggregates their definitions name, so the set is known only at run time. @internal
 */
export function commandHandlersByAggregate(
  options: CommandHandlerStores,
): (aggregate: AnyAggregate) => CommandHandler<unknown, Command, never, Command> {
  const handlers = new Map<AnyAggregate, CommandHandler<unknown, Command, never, Command>>()
  return (aggregate) => {
    let handler = handlers.get(aggregate)
    if (!handler) {
      handler = createCommandHandler(aggregate, {
        store: options.store,
        ...(options.idempotency ? { idempotency: options.idempotency } : {}),
        ...(options.snapshots ? { snapshots: options.snapshots } : {}),
        ...(options.retry ? { retry: options.retry } : {}),
      }) as unknown as CommandHandler<unknown, Command, never, Command>
      handlers.set(aggregate, handler)
    }
    return handler
  }
}
