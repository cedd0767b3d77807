import type { Redis } from 'ioredis'
import { RedriveFailedError } from './errors.js'
import { positiveOption } from './options.js'
import {
  type ConsumedMessage,
  DeadLetterFields,
  deadLetterStreamKey,
  fieldOf,
  parseStreamEntry,
  RedriveFields,
} from './redis-streams-consumer.js'
import { streamKey } from './redis-streams-publisher.js'

/** The dead-letter stream of one consumer group: the group's topic and name, on a Redis client. */
export type ConsumerDeadLetterLocation = Readonly<{
  redis: Redis
  /** Same prefix as the publisher's and the consumer's. Default `annals`. */
  keyPrefix?: string
  topic: string
  group: string
}>

/** A message a consumer group dead-lettered, as its dead-letter entry records it. */
export type ConsumerDeadLetter = ConsumedMessage &
  Readonly<{
    /** The dead-letter entry's id: what {@link redriveConsumerDeadLetters} takes. */
    id: string
    /** When it was dead-lettered (the time in the dead-letter entry's id). */
    deadAt: Date
    /** The source stream's key (`entryId` is the entry's id there). */
    stream: string
    /** The consumer that gave up on it; `null` in entries written before 0.2. */
    consumer: string | null
    /** How often Redis had delivered it; `null` in entries written before 0.2. */
    deliveries: number | null
    /** The last error, as `Name: message`. */
    error: string
    /** The last error's `code`, when it had one. */
    errorCode: string | null
  }>

// Moves one dead letter back to the source stream, marked for its group, and deletes it from the
// dead-letter stream, in one script: a crash or an error leaves it either moved once or where it was
// (XADD fails before XDEL runs; Redis scripts stop at the first error), and an id that is gone (moved
// by a concurrent redrive) moves nothing. KEYS: dead-letter stream, source stream. ARGV: dead-letter
// id, redrive group field, group, redrive source field, then the names of the fields to drop.
const REDRIVE_SCRIPT = `
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return 0 end
local drop = {}
for i = 5, #ARGV do drop[ARGV[i]] = true end
local fields = found[1][2]
local args = {KEYS[2], '*'}
for i = 1, #fields, 2 do
  if not drop[fields[i]] then
    args[#args + 1] = fields[i]
    args[#args + 1] = fields[i + 1]
  end
end
args[#args + 1] = ARGV[2]
args[#args + 1] = ARGV[3]
args[#args + 1] = ARGV[4]
args[#args + 1] = ARGV[1]
redis.call('XADD', unpack(args))
redis.call('XDEL', KEYS[1], ARGV[1])
return 1`

// The dead-letter bookkeeping and an earlier redrive's marks: the redriven entry gets fresh ones.
const DROPPED_FIELDS = [...Object.values(DeadLetterFields), ...Object.values(RedriveFields)]

const PAGE = 100

function keysOf(location: ConsumerDeadLetterLocation): { dead: string; source: string } {
  const keyPrefix = location.keyPrefix ?? 'annals'
  return {
    dead: deadLetterStreamKey(keyPrefix, location.topic, location.group),
    source: streamKey(keyPrefix, location.topic),
  }
}

/** Lists a consumer group's dead letters, oldest first (at most `limit`, default 100). */
export async function listConsumerDeadLetters(
  options: ConsumerDeadLetterLocation & Readonly<{ limit?: number }>,
): Promise<ConsumerDeadLetter[]> {
  const limit = positiveOption('limit', options.limit, 100)
  const { dead, source } = keysOf(options)
  const entries = await options.redis.xrange(dead, '-', '+', 'COUNT', limit)
  return entries.map(([id, fields]) => {
    const field = (name: string): string | null => fieldOf(fields, name) ?? null
    const entryId = field(DeadLetterFields.entryId) ?? ''
    const deliveries = field(DeadLetterFields.deliveries)
    return {
      ...parseStreamEntry(options.topic, entryId, fields),
      id,
      deadAt: new Date(Number(id.split('-')[0])),
      stream: field(DeadLetterFields.stream) ?? source,
      consumer: field(DeadLetterFields.consumer),
      deliveries: deliveries === null ? null : Number(deliveries),
      error: field(DeadLetterFields.error) ?? '',
      errorCode: field(DeadLetterFields.errorCode),
    }
  })
}

/**
 * Puts a consumer group's dead letters (all of them, or those with the given dead-letter ids) back on
 * the topic's stream, once each: every move is one Redis script that appends the message and deletes
 * its dead letter, so a crash or a failure mid-way neither loses nor duplicates one. The appended
 * entry keeps its `messageId` (an idempotent handler still applies it once) and is marked for this
 * group: the topic's other groups acknowledge it without handling it. It goes to the end of the
 * stream, behind messages of its key that were handled meanwhile.
 *
 * Without `ids`, redrives the dead letters there were when it started (ones dead-lettered again while
 * it runs wait for the next redrive). Rejects with a `RedriveFailedError` when Redis refused some
 * moves: those stay dead-lettered, the others are moved.
 */
export async function redriveConsumerDeadLetters(
  options: ConsumerDeadLetterLocation & Readonly<{ ids?: readonly string[] }>,
): Promise<{ redriven: number }> {
  const { redis } = options
  const { dead, source } = keysOf(options)
  let redriven = 0
  const move = async (ids: readonly string[]): Promise<void> => {
    const pipeline = redis.pipeline()
    for (const id of ids) {
      pipeline.eval(
        REDRIVE_SCRIPT,
        2,
        dead,
        source,
        id,
        RedriveFields.group,
        options.group,
        RedriveFields.deadLetterId,
        ...DROPPED_FIELDS,
      )
    }
    const replies = (await pipeline.exec()) ?? []
    const failed: string[] = []
    let firstError: unknown
    replies.forEach(([error, moved], i) => {
      if (error) {
        firstError ??= error
        failed.push(ids[i] ?? '')
      } else if (moved === 1) redriven += 1
    })
    if (failed.length > 0) throw new RedriveFailedError(redriven, failed, { cause: firstError })
  }

  if (options.ids !== undefined) {
    for (let i = 0; i < options.ids.length; i += PAGE) await move(options.ids.slice(i, i + PAGE))
    return { redriven }
  }
  // The last id at the start bounds the walk: letters dead-lettered again while it runs are not
  // redriven a second time in the same call.
  const last = (await redis.xrevrange(dead, '+', '-', 'COUNT', 1))[0]?.[0]
  if (last === undefined) return { redriven }
  let from = '-'
  for (;;) {
    const page = (await redis.xrange(dead, from, last, 'COUNT', PAGE)).map(([id]) => id)
    if (page.length === 0) break
    await move(page)
    from = `(${page[page.length - 1]}`
  }
  return { redriven }
}
