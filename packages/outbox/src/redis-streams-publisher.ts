import type { EventPublisher, OutboundMessage } from '@annals/core'
import type { Redis } from 'ioredis'
import { OutboxInvalidOptionError, PublishFailedError } from './errors.js'

/** Options of {@link createRedisStreamsPublisher}. */
export type RedisStreamsPublisherOptions = Readonly<{
  redis: Redis
  /** Stream keys are `<keyPrefix>:<topic>`. Default `annals`. */
  keyPrefix?: string
  /** Trim each stream to about this many entries (`MAXLEN ~`). Default: no trimming. */
  maxLen?: number
}>

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
 * An {@link EventPublisher} writing each message to the stream of its topic with `XADD`. A batch goes
 * in one pipeline, in order, and resolves when Redis has answered every command.
 */
export function createRedisStreamsPublisher(options: RedisStreamsPublisherOptions): EventPublisher {
  const redis = options.redis
  const keyPrefix = options.keyPrefix ?? 'annals'
  const maxLen = options.maxLen
  if (maxLen !== undefined && (!Number.isInteger(maxLen) || maxLen < 1)) {
    throw new OutboxInvalidOptionError('maxLen', `must be a positive integer, got ${maxLen}`)
  }
  const trim: string[] = maxLen === undefined ? [] : ['MAXLEN', '~', String(maxLen)]
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
          JSON.stringify(m.payload ?? null),
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
