import { InvalidArgumentError } from './errors.js'

/** @internal Command or event definitions keyed by their type; a type defined twice is an `InvalidArgumentError`. */
export function definitionsByType<D extends Readonly<{ type: string }>>(
  definitions: readonly D[],
  kind: 'command' | 'event',
): Map<string, D> {
  const byType = new Map<string, D>()
  for (const definition of definitions) {
    if (byType.has(definition.type)) {
      throw new InvalidArgumentError(`${kind} definitions`, `${kind} type "${definition.type}" is defined twice`)
    }
    byType.set(definition.type, definition)
  }
  return byType
}
