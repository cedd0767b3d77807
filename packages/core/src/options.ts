/**
 * An integer option with its default applied, checked against `min`. `invalid` builds the calling
 * package's typed error, so each package keeps its own stable code while the rule and the message
 * are the same everywhere.
 * @example const batchSize = integerOption('batchSize', options.batchSize, 100, 1, (name, reason) => new MyInvalidOptionError(name, reason))
 */
export function integerOption(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  invalid: (name: string, reason: string) => Error,
): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < min) throw invalid(name, `must be an integer >= ${min} (got ${String(v)})`)
  return v
}
