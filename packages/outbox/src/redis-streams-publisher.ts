import { type EventPublisher, type OutboundMessage, payloadText } from '@annals/core'
import type { Redis } from 'ioredis'
import { PublishFailedError } from './errors.js'
import { positiveOption } from './options.js'

/**
 * How many entries a stream keeps: a positive integer, trimmed approximately (`MAXLEN ~`, which drops
 * whole internal nodes and so keeps a little more), or `'unbounded'` to never trim.
 */
export type StreamMaxLen = number | 'unbounded'

/**
 * The default bound of each topic's stream. Memory is about the entry count times the entry size
 * (a 1 KB message: about 1 GB), and a consumer group that falls further behind loses the oldest
 * entries it has not read, so size it to the longest outage a group must survive at the topic's rate.
 */
export const DEFAULT_STREAM_MAX_LEN = 1_000_000

/** Options of {@link createRedisStreamsPublisher}. */
export type RedisStreamsPublisherOptions = Readonly<{
  redis: Redis
  /** Stream keys are `<keyPrefix>:<topic>`. Default `annals`. */
  keyPrefix?: string
  /**
   * Trim each stream to about this many entries on every `XADD` (`MAXLEN ~`). Default
   * {@link DEFAULT_STREAM_MAX_LEN}; `'unbounded'` never trims.
   */
  maxLen?: StreamMaxLen
}>

/**
 * The trimming arguments of an `XADD` for a {@link StreamMaxLen} option: empty when unbounded. An
 * out-of-range bound is an `OutboxInvalidOptionError` naming `option`. @internal
 */
export function trimArguments(option: string, maxLen: StreamMaxLen | undefined, fallback: number): string[] {
  if (maxLen === 'unbounded') return []
  return ['MAXLEN', '~', String(positiveOption(option, maxLen, fallback))]
}

/** The Redis key of a topic's stream. */
export function streamKey(keyPrefix: string, topic: string): string {
  return `${keyPrefix}:${topic}`
}

/**
 * Field names of a published stream entry. Redis assigns the entry id (`*`); the message id travels
 * as a field so that consumers can deduplicate on it.
 */
export const StreamFields = {
  messageId: 'messageId',
  type: 'type',
  partitionKey: 'partitionKey',
  headers: 'headers',
  payload: 'payload',
} as const

/**
 * An {@link EventPublisher} writing each message to the stream of its topic with `XADD`, trimming the
 * stream to `maxLen` (about a million entries unless told otherwise). A batch goes in one pipeline, in
 * order, and resolves when Redis has answered every command.
 */
export function createRedisStreamsPublisher(options: RedisStreamsPublisherOptions): EventPublisher {
  const redis = options.redis
  const keyPrefix = options.keyPrefix ?? 'annals'
  const trim = trimArguments('maxLen', options.maxLen, DEFAULT_STREAM_MAX_LEN)
  return {
    async publish(messages: readonly OutboundMessage[]): Promise<void> {
      if (messages.length === 0) return
      const pipeline = redis.pipeline()
      for (const m of messages) {
        pipeline.call(
          'XADD',
          streamKey(keyPrefix, m.topic),
          ...trim,
          '*',
          StreamFields.messageId,
          m.messageId,
          StreamFields.type,
          m.type,
          StreamFields.partitionKey,
          m.partitionKey,
          StreamFields.headers,
          JSON.stringify(m.headers),
          StreamFields.payload,
          payloadText(m),
        )
      }
      const replies = await pipeline.exec()
      if (replies === null) {
        throw new PublishFailedError(
          messages.map((m) => m.messageId),
          'Redis discarded the pipeline',
        )
      }
      const failed: string[] = []
      let firstError: unknown
      replies.forEach(([error], i) => {
        if (error) {
          firstError ??= error
          const id = messages[i]?.messageId
          if (id !== undefined) failed.push(id)
        }
      })
      if (failed.length > 0) {
        throw new PublishFailedError(
          failed,
          `Redis refused ${failed.length} of ${messages.length} messages: ${String(firstError)}`,
          { cause: firstError },
        )
      }
    },
  }
}
