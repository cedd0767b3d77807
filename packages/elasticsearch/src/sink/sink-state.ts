import type { LogCheckpoint } from '@annals/core'
import { compareCheckpoints } from '@annals/core/runtime'
import type { Client, estypes } from '@elastic/elasticsearch'
import { ElasticsearchRequestFailedError } from '../errors.js'
import { CHECKPOINT_ID, KIND_FIELD, META_FIELD } from '../names.js'
import { type RetryPolicy, withRetry } from '../retry.js'

/**
 * @internal A generation's checkpoint document as read: the checkpoint, the highest lease token that
 * wrote or fenced it, the dead-letter replays already applied, and the sequence number the next
 * compare-and-set is guarded by.
 */
export type CheckpointState = Readonly<{
  /** False when the generation's index does not exist. */
  indexExists: boolean
  seqNo: number | null
  primaryTerm: number | null
  checkpoint: LogCheckpoint | null
  token: bigint
  replayed: readonly string[]
}>

/** @internal What a compare-and-set stores in the checkpoint document. */
export type NextState = Readonly<{ checkpoint: LogCheckpoint | null; token: bigint; replayed: readonly string[] }>

// Bigints travel as decimal strings: the document is stored, never indexed, so no number type applies.
type MetaSource = {
  [KIND_FIELD]: 'checkpoint'
  [META_FIELD]: { transactionId: string | null; position: string | null; token: string; replayed: string[] }
}

/** @internal Whether two checkpoints are the same (both absent counts). */
export function sameCheckpoint(a: LogCheckpoint | null, b: LogCheckpoint | null): boolean {
  if (a === null || b === null) return a === b
  return compareCheckpoints(a, b) === 0
}

/** @internal Reads and compare-and-sets the checkpoint document of a generation's index. */
export type SinkState = Readonly<{
  read(index: string): Promise<CheckpointState>
  /** Compare-and-set of the checkpoint document; false when someone else wrote it since `state` was read. */
  write(index: string, state: CheckpointState, next: NextState): Promise<boolean>
  /** Raises the stored token to `token` (never lowers it), so older lease holders' commits are refused. */
  fence(index: string, token: bigint): Promise<void>
}>

/** @internal The {@link SinkState} of one client. */
export function createSinkState(client: Client, policy: RetryPolicy): SinkState {
  async function read(index: string): Promise<CheckpointState> {
    const res = await withRetry(`get checkpoint of ${index}`, policy, () =>
      client.get<MetaSource>({ index, id: CHECKPOINT_ID, realtime: true }, { ignore: [404] }),
    )
    const body = res as estypes.GetResponse<MetaSource> & { error?: { type?: string } }
    if (body.error?.type === 'index_not_found_exception') {
      return { indexExists: false, seqNo: null, primaryTerm: null, checkpoint: null, token: 0n, replayed: [] }
    }
    if (!body.found || !body._source) {
      return { indexExists: true, seqNo: null, primaryTerm: null, checkpoint: null, token: 0n, replayed: [] }
    }
    const meta = body._source[META_FIELD]
    return {
      indexExists: true,
      seqNo: body._seq_no ?? null,
      primaryTerm: body._primary_term ?? null,
      checkpoint:
        meta.transactionId !== null && meta.position !== null
          ? { transactionId: BigInt(meta.transactionId), position: BigInt(meta.position) }
          : null,
      token: BigInt(meta.token),
      replayed: meta.replayed ?? [],
    }
  }

  async function write(index: string, state: CheckpointState, next: NextState): Promise<boolean> {
    const document: MetaSource = {
      [KIND_FIELD]: 'checkpoint',
      [META_FIELD]: {
        transactionId: next.checkpoint ? next.checkpoint.transactionId.toString() : null,
        position: next.checkpoint ? next.checkpoint.position.toString() : null,
        token: next.token.toString(),
        replayed: [...next.replayed],
      },
    }
    // No document yet: only the first of two racing writers may create it.
    const guard =
      state.seqNo !== null && state.primaryTerm !== null
        ? { if_seq_no: state.seqNo, if_primary_term: state.primaryTerm }
        : { op_type: 'create' as const }
    try {
      await withRetry(`store checkpoint of ${index}`, policy, () =>
        client.index({ index, id: CHECKPOINT_ID, document, ...guard }),
      )
      return true
    } catch (error) {
      if (error instanceof ElasticsearchRequestFailedError && error.statusCode === 409) return false
      throw error
    }
  }

  return {
    read,
    write,
    async fence(index, token) {
      for (;;) {
        const state = await read(index)
        if (state.token >= token) return
        if (await write(index, state, { checkpoint: state.checkpoint, token, replayed: state.replayed })) return
      }
    },
  }
}
