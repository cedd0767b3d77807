import { sleep } from '@annals/core/runtime'
import type { estypes } from '@elastic/elasticsearch'
import { type ElasticsearchRequestFailedError, IndexSetupError, InvalidElasticsearchOptionError } from '../errors.js'
import { generationOf, KIND_FIELD } from '../names.js'
import { reasonOf, statusOf, withRetry } from '../retry.js'
import type { SinkSettings } from './sink-options.js'
import type { SinkState } from './sink-state.js'

// The alias hides the sink's own documents (tombstones, the checkpoint) from every search through it.
const READER_FILTER: estypes.QueryDslQueryContainer = { bool: { must_not: [{ exists: { field: KIND_FIELD } }] } }

/**
 * @internal The indices of a projection's generations and the alias in front of them: create, find
 * the live one, move the alias, delete a retired one.
 */
export type IndexLifecycle = Readonly<{
  /** Creates the index unless it exists. */
  ensure(index: string): Promise<void>
  /** Creates the index with the sink's settings and mappings; one that already exists is left as it is. */
  create(index: string): Promise<void>
  /** The highest generation the alias points at, or null when it points nowhere. */
  liveGeneration(alias: string): Promise<number | null>
  /** Points the alias at `index` alone; false (nothing moved) when a newer lease token wrote any index involved. */
  activate(alias: string, index: string, token: bigint): Promise<boolean>
  /** Deletes the index once its grace period is over; refuses while the alias points at it. */
  drop(alias: string, index: string): Promise<void>
}>

/** @internal The {@link IndexLifecycle} of one sink. */
export function createIndexLifecycle(
  { client, policy, log, settings, mappings, dropGraceMs }: SinkSettings,
  state: SinkState,
): IndexLifecycle {
  // Indexes that stopped being live, with the time they did: drop() waits out the grace period for them.
  const retiredAt = new Map<string, number>()

  async function create(index: string): Promise<void> {
    try {
      await withRetry(`create index ${index}`, policy, () => client.indices.create({ index, settings, mappings }))
    } catch (error) {
      const cause = (error as ElasticsearchRequestFailedError).cause
      const reason = reasonOf(cause)
      if (reason.startsWith('resource_already_exists_exception')) return
      throw new IndexSetupError(index, reason, { cause })
    }
  }

  async function aliasHolders(name: string): Promise<string[]> {
    const res = await withRetry(`get alias ${name}`, policy, () => client.indices.getAlias({ name }, { ignore: [404] }))
    const body = res as Record<string, unknown> & { error?: unknown; status?: number }
    if (body.error !== undefined || body.status === 404) return []
    return Object.keys(body).filter((k) => k !== 'error' && k !== 'status')
  }

  return {
    create,

    async ensure(index) {
      const exists = await withRetry(`check index ${index}`, policy, () => client.indices.exists({ index }))
      if (!exists) await create(index)
    },

    async liveGeneration(alias) {
      const gens = (await aliasHolders(alias)).map((i) => generationOf(alias, i)).filter((g): g is number => g !== null)
      return gens.length > 0 ? Math.max(...gens) : null
    },

    async activate(alias, index, token) {
      const holders = await aliasHolders(alias)
      for (const i of [index, ...holders]) {
        if ((await state.read(i)).token > token) return false
      }
      // Everything written so far must be searchable the moment readers arrive.
      await withRetry(`refresh ${index}`, policy, () => client.indices.refresh({ index }))
      const actions: estypes.IndicesUpdateAliasesAction[] = [
        ...holders.filter((h) => h !== index).map((h) => ({ remove: { index: h, alias } })),
        { add: { index, alias, filter: READER_FILTER } },
      ]
      // One call: the engine applies remove and add atomically, so the alias is never missing.
      await withRetry(`swap alias ${alias}`, policy, () => client.indices.updateAliases({ actions }))
      const now = Date.now()
      for (const h of holders) if (h !== index) retiredAt.set(h, now)
      retiredAt.delete(index)
      log.info({ alias, index, previous: holders }, 'alias points at the new generation')
      return true
    },

    async drop(alias, index) {
      const retired = retiredAt.get(index)
      if (retired !== undefined) {
        const wait = retired + dropGraceMs - Date.now()
        if (wait > 0) await sleep(wait)
        retiredAt.delete(index)
      }
      if ((await aliasHolders(alias)).includes(index)) {
        throw new InvalidElasticsearchOptionError(
          'generation',
          `index "${index}" is what readers see: move the alias first`,
        )
      }
      try {
        await withRetry(`delete index ${index}`, policy, () =>
          client.indices.delete({ index, ignore_unavailable: true }),
        )
      } catch (error) {
        if (statusOf((error as ElasticsearchRequestFailedError).cause) === 404) return
        throw error
      }
    },
  }
}
