import { InvalidElasticsearchOptionError } from './errors.js'

/** @internal Id of the document that holds a generation's checkpoint, inside the generation's index. */
export const CHECKPOINT_ID = '__annals_checkpoint'
/** @internal Field that marks the sink's own documents (`tombstone`, `checkpoint`); the alias filter hides them. */
export const KIND_FIELD = 'annals_kind'
/** @internal Field holding the checkpoint document's data (stored, not indexed). */
export const META_FIELD = 'annals_meta'

/** The default prefix of every alias and index the sink creates. */
export const DEFAULT_INDEX_PREFIX = 'annals-'

// Lower-case, no characters the engines refuse in index names (\ / * ? " < > | space , # :).
const PREFIX = /^[a-z0-9][a-z0-9_.+-]{0,100}$/

/** @internal Checks an index prefix. */
export function assertIndexPrefix(prefix: string): string {
  if (!PREFIX.test(prefix)) {
    throw new InvalidElasticsearchOptionError(
      'indexPrefix',
      `must be lower-case letters, digits, "_", ".", "+" or "-", starting with a letter or digit (got ${JSON.stringify(prefix)})`,
    )
  }
  return prefix
}

/** The alias readers query for a projection. */
export function aliasName(indexPrefix: string, projection: string): string {
  return `${indexPrefix}${projection}`
}

/** The concrete index of one generation of a projection. */
export function generationIndexName(indexPrefix: string, projection: string, generation: number): string {
  return `${aliasName(indexPrefix, projection)}__g${generation}`
}

/** @internal The generation an index name of this projection carries, or null. */
export function generationOf(alias: string, index: string): number | null {
  if (!index.startsWith(`${alias}__g`)) return null
  const n = Number(index.slice(alias.length + 3))
  return Number.isInteger(n) && n > 0 ? n : null
}
