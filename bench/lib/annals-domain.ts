import { defineAggregate, defineCommand, defineEvent } from '@annals/core'
import { z } from 'zod'
import { type AccountState, evolve, initialState } from './domain.js'

const money = z.object({ accountId: z.string(), amount: z.number(), currency: z.string(), reference: z.string() })

/** The bench's events as Annals definitions (the same shapes as {@link makeEvent}). */
export const Deposited = defineEvent('Deposited', money)
export const Withdrawn = defineEvent('Withdrawn', money)
const Deposit = defineCommand('Deposit', money)

/**
 * The bench account as an Annals aggregate: the same fold as the raw and peer loads. Snapshots are
 * written by the workloads themselves (the policy only matters for the command handler).
 */
export const BenchAccount = defineAggregate({
  name: 'bench-account',
  events: [Deposited, Withdrawn],
  commands: [Deposit],
  initialState: (): AccountState => initialState(),
  evolve: (state, event) => evolve(state, event),
  decide: (command) => Deposited.create(command.data),
  streamId: (command) => command.data.accountId,
})
