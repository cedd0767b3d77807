import type { EventPublisher, OutboundMessage } from '@annals/core'
import { isPublishFailedError, PublishTimeoutError } from '../errors.js'
import type { RelayedMessage } from './claim-batch.js'

/** A message the broker did not take, with the reason. @internal */
export type PublishFailure = Readonly<{ message: RelayedMessage; error: unknown }>

/** What the broker acknowledged of one batch. @internal */
export type PublishOutcome = { sent: RelayedMessage[]; failures: PublishFailure[] }

/**
 * Publishes a claimed batch; on failure, finds out which messages are to blame without breaking key
 * order. @internal
 */
export async function publishBatch(
  publisher: EventPublisher,
  batch: readonly RelayedMessage[],
  timeoutMs: number,
): Promise<PublishOutcome> {
  try {
    await publishWithTimeout(publisher, batch, timeoutMs)
    return { sent: [...batch], failures: [] }
  } catch (error) {
    if (isPublishFailedError(error) && error.messageIds.length > 0) {
      return partialFailure(batch, new Set(error.messageIds), error)
    }
    if (batch.length === 1) return { sent: [], failures: batch.map((message) => ({ message, error })) }
    return isolate(publisher, batch, error, timeoutMs)
  }
}

/**
 * The publisher says exactly which messages it could not deliver; the rest were acknowledged. A key
 * stops at its first failed message, as in {@link isolate}: the messages behind it were delivered
 * too early, so they stay pending (untouched) and go again after it, at least once, instead of being
 * marked sent ahead of it.
 */
function partialFailure(batch: readonly RelayedMessage[], failed: ReadonlySet<string>, error: unknown): PublishOutcome {
  const sent: RelayedMessage[] = []
  const failures: PublishFailure[] = []
  const failedKeys = new Set<string>()
  for (const message of batch) {
    if (failedKeys.has(message.partitionKey)) continue
    if (failed.has(message.messageId)) {
      failedKeys.add(message.partitionKey)
      failures.push({ message, error })
    } else sent.push(message)
  }
  return { sent, failures }
}

/**
 * Publishes one message at a time, in id order, so that a poison message fails alone: its key stops
 * there (later rows of the key stay pending, untouched) and other keys go on. When the first few
 * tries all fail, the broker itself is failing: charge one attempt to each key's head and stop.
 */
async function isolate(
  publisher: EventPublisher,
  batch: readonly RelayedMessage[],
  batchError: unknown,
  timeoutMs: number,
): Promise<PublishOutcome> {
  const sent: RelayedMessage[] = []
  const failures: PublishFailure[] = []
  const failedKeys = new Set<string>()
  for (const message of batch) {
    if (failedKeys.has(message.partitionKey)) continue
    if (sent.length === 0 && failures.length >= 3) {
      for (const rest of batch) {
        if (failedKeys.has(rest.partitionKey)) continue
        failedKeys.add(rest.partitionKey)
        failures.push({ message: rest, error: batchError })
      }
      break
    }
    try {
      await publishWithTimeout(publisher, [message], timeoutMs)
      sent.push(message)
    } catch (error) {
      failedKeys.add(message.partitionKey)
      failures.push({ message, error })
    }
  }
  return { sent, failures }
}

async function publishWithTimeout(
  publisher: EventPublisher,
  messages: readonly RelayedMessage[],
  timeoutMs: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      publisher.publish(messages.map(toOutbound)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PublishTimeoutError(timeoutMs)), timeoutMs)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

// The broker sees the message, not the relay's bookkeeping (row id, attempts); `payload` stays lazy.
function toOutbound(m: RelayedMessage): OutboundMessage {
  return {
    messageId: m.messageId,
    topic: m.topic,
    partitionKey: m.partitionKey,
    type: m.type,
    payloadJson: m.payloadJson,
    get payload() {
      return m.payload
    },
    headers: m.headers,
  }
}
