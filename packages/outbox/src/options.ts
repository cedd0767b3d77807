import { integerOption } from '@annals/core/runtime'
import { OutboxInvalidOptionError } from './errors.js'

/** An integer option of at least 1, with its default applied; out of range is an `OutboxInvalidOptionError`. @internal */
export const positiveOption = (name: string, value: number | undefined, fallback: number): number =>
  integerOption(name, value, fallback, 1, (option, reason) => new OutboxInvalidOptionError(option, reason))
