import { type Logger, type OutboundMessage, silentLogger, type Worker } from '@annals/core'
import { createWaiter, createWorkerLifecycle } from '@annals/core/runtime'
import type { Redis } from 'ioredis'
import { errorText } from './error-text.js'
import { MalformedMessageError, OutboxAlreadyStartedError } from './errors.js'
import { positiveOption } from './options.js'
import { StreamFields, type StreamMaxLen, streamKey, trimArguments } from './redis-streams-publisher.js'

/** A message read from a Redis stream: the published message (deduplicate on its `messageId`) and where it was read. */
export type ConsumedMessage = OutboundMessage &
  Readonly<{
    /** The Redis entry id (assigned by Redis; not stable across re-publications). */
    entryId: string
  }>

/** Options of {@link createRedisStreamsConsumer}. */
export type RedisStreamsConsumerOptions = Readonly<{
  /** Used for commands; a duplicate of it is made for blocking reads. */
  redis: Redis
  /** Same prefix as the publisher's. Default `annals`. */
  keyPrefix?: string
  topic: string
  /** Consumer group: every group receives every message. */
  group: string
  /** This consumer's name within the group (stable across restarts, so it finds its own pending entries). */
  consumer: string
  /** Handles one message; resolving acknowledges it, throwing leaves it pending for a retry. */
  handle: (message: ConsumedMessage) => Promise<unknown>
  /** Entries per read. Default 100. */
  batchSize?: number
  /** How long a read waits for new entries. Default 1000 ms. */
  blockMs?: number
  /** Entries pending this long at another consumer are taken over (`XAUTOCLAIM`). Default 30 s. */
  claimIdleMs?: number
  /** Where a new group starts: `'0'` (the whole stream, default) or `'$'` (only new entries). */
  startFrom?: '0' | '$'
  /** Pause after a failed handler before retrying. Default 1000 ms. */
  retryDelayMs?: number
  /**
   * After this many deliveries of one entry (Redis counts them) a failing message is moved to the
   * group's dead-letter stream (`<stream key>:<group>:dead`, see {@link deadLetterStreamKey}) with the
   * reason and acknowledged, so the entries behind it can go on; so is an entry delivered more often
   * than this without its handler ever finishing (a handler that crashes the process). Default 5.
   * `'unbounded'` retries forever: one poison message then stops the group.
   */
  maxDeliveries?: number | 'unbounded'
  /** Bound of the group's dead-letter stream (`MAXLEN ~`). Default 100,000; `'unbounded'` never trims. */
  deadLetterMaxLen?: StreamMaxLen
  /** Default: silent. */
  logger?: Logger
  /** Stop gracefully on SIGTERM and SIGINT while running. Default false. */
  handleSignals?: boolean
}>

/** What one {@link RedisStreamsConsumer.runOnce} did. */
export type ConsumeResult = Readonly<{ processed: number; failed: number; deadLettered: number; claimed: number }>

/** A consumer-group reader: read, handle in order, acknowledge, take over entries of dead consumers. */
export interface RedisStreamsConsumer extends Worker {
  /** Takes over abandoned entries when due, then handles one batch (own pending entries first). */
  runOnce(): Promise<ConsumeResult>
}

/** The stream where a consumer group parks messages that failed `maxDeliveries` times. */
export function deadLetterStreamKey(keyPrefix: string, topic: string, group: string): string {
  return `${streamKey(keyPrefix, topic)}:${group}:dead`
}

/**
 * Fields a dead-letter entry carries after the original entry's fields: where the entry was read
 * (source stream, its entry id, group, consumer), how often it was delivered, and the error (text and,
 * when the error has one, its `code`).
 */
export const DeadLetterFields = {
  stream: 'stream',
  entryId: 'entryId',
  group: 'group',
  consumer: 'consumer',
  deliveries: 'deliveries',
  error: 'error',
  errorCode: 'errorCode',
} as const

/**
 * Fields of an entry that `redriveConsumerDeadLetters` put back on the source stream: the one group
 * that is to handle it (the others acknowledge it unhandled, they had it the first time) and the id
 * of the dead letter it came from.
 */
export const RedriveFields = { group: 'redriveGroup', deadLetterId: 'redrivenFrom' } as const

// The copy to the dead-letter stream and the acknowledgement happen together or not at all, and only
// while the entry is still this consumer's: one that another consumer took over is its to handle.
// KEYS: source stream, dead-letter stream. ARGV: group, entry id, consumer, then the XADD arguments.
const DEAD_LETTER_SCRIPT = `
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3]) == 0 then return 0 end
redis.call('XADD', KEYS[2], unpack(ARGV, 4))
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])`

const DEFAULT_MAX_DELIVERIES = 5
const DEFAULT_DEAD_LETTER_MAX_LEN = 100_000

/** Creates a consumer group on a topic's stream (with `MKSTREAM`); does nothing when it exists. */
export async function ensureConsumerGroup(
  redis: Redis,
  options: Readonly<{ keyPrefix?: string; topic: string; group: string; startFrom?: '0' | '$' }>,
): Promise<void> {
  try {
    await redis.call(
      'XGROUP',
      'CREATE',
      streamKey(options.keyPrefix ?? 'annals', options.topic),
      options.group,
      options.startFrom ?? '0',
      'MKSTREAM',
    )
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('BUSYGROUP')) throw error
  }
}

type Entry = [string, string[] | null]

/** The value of field `name` of a flat field list (the last one when repeated), if present. @internal */
export function fieldOf(fields: readonly string[], name: string): string | undefined {
  let value: string | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) value = fields[i + 1]
  return value
}

/** Parses a stream entry written by the Redis Streams publisher. */
export function parseStreamEntry(topic: string, entryId: string, fields: readonly string[]): ConsumedMessage {
  const map = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] as string, fields[i + 1] as string)
  const need = (name: string): string => {
    const value = map.get(name)
    if (value === undefined) throw new MalformedMessageError(entryId, `missing field "${name}"`)
    return value
  }
  try {
    return {
      entryId,
      topic,
      messageId: need(StreamFields.messageId),
      type: need(StreamFields.type),
      partitionKey: need(StreamFields.partitionKey),
      headers: JSON.parse(map.get(StreamFields.headers) ?? '{}') as Record<string, string>,
      payload: JSON.parse(need(StreamFields.payload)) as unknown,
    }
  } catch (error) {
    if (error instanceof MalformedMessageError) throw error
    throw new MalformedMessageError(entryId, 'a JSON field does not parse', { cause: error })
  }
}

/**
 * Creates a consumer of one topic in one consumer group. Entries are handled one at a time in stream
 * order; the first failure stops the batch so later entries (maybe of the same key) wait for it.
 * Delivery is at-least-once: wrap `handle` with `createIdempotentHandler` for effectively-once.
 */
export function createRedisStreamsConsumer(options: RedisStreamsConsumerOptions): RedisStreamsConsumer {
  const redis = options.redis
  const key = streamKey(options.keyPrefix ?? 'annals', options.topic)
  const batchSize = options.batchSize ?? 100
  const blockMs = options.blockMs ?? 1000
  const claimIdleMs = options.claimIdleMs ?? 30_000
  const retryDelayMs = options.retryDelayMs ?? 1000
  const maxDeliveries =
    options.maxDeliveries === 'unbounded'
      ? Number.POSITIVE_INFINITY
      : positiveOption('maxDeliveries', options.maxDeliveries, DEFAULT_MAX_DELIVERIES)
  const deadTrim = trimArguments('deadLetterMaxLen', options.deadLetterMaxLen, DEFAULT_DEAD_LETTER_MAX_LEN)
  const deadKey = deadLetterStreamKey(options.keyPrefix ?? 'annals', options.topic, options.group)
  const logger = options.logger ?? silentLogger
  const where = { topic: options.topic, group: options.group, consumer: options.consumer }
  let blocking: Redis | undefined
  let groupReady = false
  let lastClaim = 0
  let running: Promise<void> | undefined
  const waiter = createWaiter()

  /** Delivery counts of this consumer's pending entries from `first` to `last`, by entry id. */
  async function deliveries(first: string, last: string, count: number): Promise<Map<string, number>> {
    const reply = (await redis.call('XPENDING', key, options.group, first, last, String(count), options.consumer)) as [
      string,
      string,
      number,
      number,
    ][]
    return new Map(reply.map(([id, , , delivered]) => [id, Number(delivered)]))
  }

  /** Parks an entry with its reason and acknowledges it; false when another consumer took it over. */
  async function deadLetter(entryId: string, fields: readonly string[], delivered: number, error: unknown) {
    const code = (error as { code?: unknown } | null)?.code
    const moved = await redis.eval(
      DEAD_LETTER_SCRIPT,
      2,
      key,
      deadKey,
      options.group,
      entryId,
      options.consumer,
      ...deadTrim,
      '*',
      ...fields,
      DeadLetterFields.stream,
      key,
      DeadLetterFields.entryId,
      entryId,
      DeadLetterFields.group,
      options.group,
      DeadLetterFields.consumer,
      options.consumer,
      DeadLetterFields.deliveries,
      String(delivered),
      DeadLetterFields.error,
      errorText(error),
      ...(typeof code === 'string' ? [DeadLetterFields.errorCode, code] : []),
    )
    return moved === 1
  }

  /**
   * Handles entries in order and acknowledges each; stops at the first failure unless the entry has
   * had its `maxDeliveries`. `pending` holds the delivery counts of re-read pending entries: one
   * delivered more often than allowed never got an answer from its handler, so it is parked unhandled.
   */
  async function handleEntries(
    entries: readonly Entry[],
    pending?: ReadonlyMap<string, number>,
  ): Promise<{ processed: number; failed: number; deadLettered: number }> {
    let processed = 0
    let deadLettered = 0
    const park = async (entryId: string, fields: readonly string[], delivered: number, error: unknown) => {
      const messageId = fieldOf(fields, StreamFields.messageId)
      if (await deadLetter(entryId, fields, delivered, error)) {
        logger.error({ ...where, err: error, entryId, messageId, deliveries: delivered }, 'message dead-lettered')
        deadLettered += 1
      } else logger.warn({ ...where, entryId, messageId }, 'entry taken over by another consumer')
    }
    for (const [entryId, fields] of entries) {
      if (fields === null) {
        // Trimmed away (MAXLEN) while pending: nothing is left to handle.
        logger.warn({ ...where, entryId }, 'pending entry was trimmed from the stream before it was handled')
      } else {
        const delivered = pending?.get(entryId) ?? 0
        const redriveGroup = fieldOf(fields, RedriveFields.group)
        if (delivered > maxDeliveries) {
          await park(
            entryId,
            fields,
            delivered,
            `delivered ${delivered} times (maxDeliveries ${maxDeliveries}) without its handler finishing`,
          )
          continue
        }
        // A redriven entry is for the group whose dead letter it was; the others handled it already.
        if (redriveGroup !== undefined && redriveGroup !== options.group) {
          await redis.call('XACK', key, options.group, entryId)
          continue
        }
        let message: ConsumedMessage | undefined
        try {
          message = parseStreamEntry(options.topic, entryId, fields)
        } catch (error) {
          logger.error({ ...where, err: error, entryId }, 'skipping a malformed stream entry')
        }
        if (message !== undefined) {
          try {
            await options.handle(message)
          } catch (error) {
            const count = (await deliveries(entryId, entryId, 1)).get(entryId) ?? 0
            if (count < maxDeliveries) {
              logger.warn(
                { ...where, err: error, entryId, messageId: message.messageId, deliveries: count },
                'handler failed; will retry',
              )
              return { processed, failed: 1, deadLettered }
            }
            await park(entryId, fields, count, error)
            continue
          }
        }
      }
      await redis.call('XACK', key, options.group, entryId)
      processed += 1
    }
    return { processed, failed: 0, deadLettered }
  }

  async function runOnce(): Promise<ConsumeResult> {
    if (!groupReady) {
      await ensureConsumerGroup(redis, {
        keyPrefix: options.keyPrefix ?? 'annals',
        topic: options.topic,
        group: options.group,
        startFrom: options.startFrom ?? '0',
      })
      groupReady = true
    }
    let claimed = 0
    const now = Date.now()
    if (now - lastClaim >= Math.max(100, claimIdleMs / 2)) {
      lastClaim = now
      // Entries read by a consumer that died are moved to this consumer's pending list.
      let cursor = '0-0'
      do {
        const reply = (await redis.call(
          'XAUTOCLAIM',
          key,
          options.group,
          options.consumer,
          String(claimIdleMs),
          cursor,
          'COUNT',
          String(batchSize),
          'JUSTID',
        )) as [string, string[], ...unknown[]]
        cursor = reply[0]
        claimed += reply[1].length
      } while (cursor !== '0-0' && !lifecycle.stopping)
      if (claimed > 0) logger.info({ ...where, claimed }, 'claimed entries left pending by another consumer')
    }
    // This consumer's own pending entries first (left by a failed handler, a crash, or claimed above).
    const own = await readGroup(redis, '0', [])
    if (own.length > 0) {
      const counts = await deliveries(own[0]?.[0] ?? '-', own[own.length - 1]?.[0] ?? '+', own.length)
      return { ...(await handleEntries(own, counts)), claimed }
    }
    blocking ??= redis.duplicate()
    const fresh = await readGroup(blocking, '>', ['BLOCK', String(blockMs)])
    return { ...(await handleEntries(fresh)), claimed }
  }

  /** `XREADGROUP` from `after` (`'0'`: this consumer's pending entries, `'>'`: entries never delivered). */
  async function readGroup(client: Redis, after: '0' | '>', block: readonly string[]): Promise<Entry[]> {
    const reply = (await client.call(
      'XREADGROUP',
      'GROUP',
      options.group,
      options.consumer,
      'COUNT',
      String(batchSize),
      ...block,
      'STREAMS',
      key,
      after,
    )) as [string, Entry[]][] | null
    return reply?.[0]?.[1] ?? []
  }

  async function loop(): Promise<void> {
    while (!lifecycle.stopping) {
      let pause = 0
      try {
        const result = await runOnce()
        if (result.failed > 0) pause = retryDelayMs
      } catch (error) {
        if (lifecycle.stopping) break
        logger.error({ ...where, err: error }, 'consumer read failed')
        pause = retryDelayMs
      }
      if (pause > 0 && !lifecycle.stopping) await waiter.wait(pause)
    }
  }

  const lifecycle = createWorkerLifecycle({
    alreadyStarted: () => new OutboxAlreadyStartedError(`The consumer ${options.group}/${options.consumer}`),
    handleSignals: options.handleSignals ?? false,
    onStart() {
      running = loop()
    },
    async onStop() {
      waiter.wake()
      await running
      running = undefined
    },
  })

  return {
    runOnce,
    start: () => lifecycle.start(),
    async stop() {
      // Cuts a blocking read short instead of waiting for blockMs (also after runOnce without start), and
      // again once the loop ended, in case its last batch opened a new blocking connection.
      const disconnect = () => {
        blocking?.disconnect()
        blocking = undefined
      }
      disconnect()
      await lifecycle.stop()
      disconnect()
    },
    whenStopped: () => lifecycle.whenStopped(),
  }
}
