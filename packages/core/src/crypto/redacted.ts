/**
 * What a personal field holds once its subject was forgotten (its data key deleted): the value is gone
 * for good, the event still loads and folds. Deciders and projections test for it with {@link isRedacted}.
 */
export const REDACTED: Readonly<{ '~annals': 'redacted' }> = Object.freeze({ '~annals': 'redacted' })

/** The type of {@link REDACTED}: a personal field's type is `T | Redacted`. */
export type Redacted = typeof REDACTED

/** True when `value` is the redacted marker (also after a JSON round trip through a read model). */
export function isRedacted(value: unknown): value is Redacted {
  return typeof value === 'object' && value !== null && (value as { '~annals'?: unknown })['~annals'] === 'redacted'
}

// The schemas `personal()` returned. A registry rather than a property: the schema is the validator's
// own object (zod's), which Annals does not own.
const personalSchemas = new WeakSet<object>()

/** @internal Marks `schema` as a personal field's schema (called by `personal()`). */
export function markPersonal(schema: object): void {
  personalSchemas.add(schema)
}

type SchemaDef = { type?: string; shape?: Record<string, unknown>; innerType?: unknown }

function defOf(schema: unknown): SchemaDef | null {
  if (typeof schema !== 'object' || schema === null) return null
  const def =
    (schema as { def?: unknown; _zod?: { def?: unknown } }).def ?? (schema as { _zod?: { def?: unknown } })._zod?.def
  return typeof def === 'object' && def !== null ? (def as SchemaDef) : null
}

/**
 * @internal The paths of the personal fields of an event schema: object properties whose schema
 * `personal()` marked, found through nested objects and optional / nullable / default wrappers (zod 4's
 * `def`). A schema of another validator has none.
 */
export function personalPaths(schema: unknown, prefix: readonly string[] = []): string[][] {
  if (typeof schema === 'object' && schema !== null && personalSchemas.has(schema)) return [[...prefix]]
  const def = defOf(schema)
  if (!def) return []
  if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default' || def.type === 'readonly') {
    return personalPaths(def.innerType, prefix)
  }
  if (def.type === 'object' && def.shape) {
    return Object.entries(def.shape).flatMap(([key, field]) => personalPaths(field, [...prefix, key]))
  }
  return []
}
