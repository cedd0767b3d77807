import { type Logger, type OutboundMessage, silentLogger, type Worker } from '@annals/core'
import { createWaiter, createWorkerLifecycle } from '@annals/core/runtime'
import type { Redis } from 'ioredis'
import { MalformedMessageError, OutboxAlreadyStartedError } from './errors.js'
import { StreamFields, streamKey } from './redis-streams-publisher.js'

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
   * group's dead-letter stream (`<stream key>:<group>:dead`, see {@link deadLetterStreamKey}) and
   * acknowledged, so the entries behind it can go on. Default: never (retry forever).
   */
  maxDeliveries?: number
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
  const maxDeliveries = options.maxDeliveries
  const deadKey = deadLetterStreamKey(options.keyPrefix ?? 'annals', options.topic, options.group)
  const logger = options.logger ?? silentLogger
  const where = { topic: options.topic, group: options.group, consumer: options.consumer }
  let blocking: Redis | undefined
  let groupReady = false
  let lastClaim = 0
  let running: Promise<void> | undefined
  const waiter = createWaiter()

  async function deliveries(entryId: string): Promise<number> {
    const reply = (await redis.call('XPENDING', key, options.group, entryId, entryId, '1')) as [
      string,
      string,
      number,
      number,
    ][]
    return Number(reply[0]?.[3] ?? 0)
  }

  async function deadLetter(entryId: string, fields: readonly string[], error: unknown): Promise<void> {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    await redis
      .multi()
      .call('XADD', deadKey, '*', ...fields, 'entryId', entryId, 'error', reason)
      .call('XACK', key, options.group, entryId)
      .exec()
  }

  async function handleEntries(
    entries: readonly Entry[],
  ): Promise<{ processed: number; failed: number; deadLettered: number }> {
    let processed = 0
    let deadLettered = 0
    for (const [entryId, fields] of entries) {
      // A null body is an entry trimmed away while pending: nothing left to handle.
      if (fields !== null) {
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
            if (maxDeliveries === undefined || (await deliveries(entryId)) < maxDeliveries) {
              logger.warn({ ...where, err: error, entryId, messageId: message.messageId }, 'handler failed; will retry')
              return { processed, failed: 1, deadLettered }
            }
            await deadLetter(entryId, fields, error)
            logger.error(
              { ...where, err: error, entryId, messageId: message.messageId },
              'handler kept failing; dead-lettered',
            )
            deadLettered += 1
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
    if (own.length > 0) return { ...(await handleEntries(own)), claimed }
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
