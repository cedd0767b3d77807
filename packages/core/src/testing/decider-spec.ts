import { expect } from 'vitest'
import { type Aggregate, toEventArray } from '../aggregate.js'
import type { Command } from '../command.js'
import type { Event, NewEvent } from '../event.js'

/** The outcome assertions of a given/when spec. */
export interface DeciderThen<S, E extends Event> {
  /** Asserts that `decide` produced exactly these events (type and data, in order; `[]` for none). */
  then(expected: E | readonly E[]): void
  /** Asserts that `decide` produced no event. */
  thenNothing(): void
  /** Asserts that `decide` threw an error with this code (a `DomainError` or any Annals error); returns it. */
  thenThrows<Code extends string>(code: Code, check?: (error: Error & { code: Code }) => void): Error & { code: Code }
  /** Asserts the state after folding the given events and the produced ones. */
  thenState(expected: S): void
}

/** A given/when spec waiting for its command. */
export interface DeciderWhen<S, E extends Event, CIn extends Command> {
  /** Runs `decide` with this command (validated by its schema first) on the state the given events built. */
  when(command: CIn): DeciderThen<S, E>
}

/** Starts a spec for an aggregate's decider. */
export interface DeciderSpec<S, E extends Event, CIn extends Command> {
  /** The events already in the stream (latest shapes), folded with `evolve`. */
  given(events: readonly E[]): DeciderWhen<S, E, CIn>
}

const strip = (event: Event) => ({ type: event.type, data: event.data })

/**
 * given/when/then specs for an aggregate's decider, with no store involved.
 * @example
 * const spec = deciderSpec(Counter)
 * spec.given([Incremented.create({ by: 1 })]).when(Increment.create({ id: 'c', by: 2 })).then([Incremented.create({ by: 2 })])
 * spec.given([]).when(Increment.create({ id: 'c', by: 99 })).thenThrows('COUNTER_OVERFLOW')
 */
export function deciderSpec<S, C extends Command, E extends Event, CIn extends Command>(
  aggregate: Aggregate<S, C, E, CIn>,
): DeciderSpec<S, E, CIn> {
  return {
    given(events) {
      return {
        when(input) {
          const run = (): { state: S; produced: readonly E[] } => {
            let state = aggregate.initialState()
            for (const event of events) state = aggregate.evolve(state, event)
            const command = aggregate.commands.parse(input)
            const produced = toEventArray(aggregate.decide(command, state))
            // What decide produced must be appendable: validate it like the command handler does.
            for (const event of produced) aggregate.events.encode(strip(event) as NewEvent<E>)
            return { state, produced }
          }
          return {
            // biome-ignore lint/suspicious/noThenProperty: given/when/then is the spec's documented shape; never awaited
            then(expected) {
              const { produced } = run()
              expect(produced.map(strip)).toEqual(toEventArray(expected).map(strip))
            },
            thenNothing() {
              expect(run().produced.map(strip)).toEqual([])
            },
            thenThrows<Code extends string>(code: Code, check?: (error: Error & { code: Code }) => void) {
              let thrown: unknown
              try {
                const { produced } = run()
                thrown = undefined
                expect.fail(`expected decide to throw ${code}, but it produced ${JSON.stringify(produced.map(strip))}`)
              } catch (error) {
                thrown = error
              }
              expect((thrown as { code?: unknown })?.code, String(thrown)).toBe(code)
              const error = thrown as Error & { code: Code }
              check?.(error)
              return error
            },
            thenState(expected) {
              const { state, produced } = run()
              let after = state
              for (const event of produced) after = aggregate.evolve(after, event)
              expect(after).toEqual(expected)
            },
          }
        },
      }
    },
  }
}

/** Shorthand for `deciderSpec(aggregate).given(events)`. */
export function given<S, C extends Command, E extends Event, CIn extends Command>(
  aggregate: Aggregate<S, C, E, CIn>,
  events: readonly E[],
): DeciderWhen<S, E, CIn> {
  return deciderSpec(aggregate).given(events)
}
