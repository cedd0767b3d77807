import {
  type BackoffPolicy,
  type Logger,
  type Schema,
  type SchemaOutput,
  silentLogger,
  validateSchema,
  type Worker,
} from '@annals/core'
import { createWorkerLifecycle, sleep, toBackoff } from '@annals/core/runtime'
import { createIdempotentHandler, type IdempotentOutcome } from '@annals/outbox'
import type { TableLocation } from '@annals/store-postgres/sql'
import {
  Admin,
  Consumer,
  type Message,
  type MessagesStream,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka'
import type { Pool, PoolClient } from 'pg'
import { type Brokers, parseBrokers } from './brokers.js'
import { closeNow, describe } from './client.js'
import { KafkaAlreadyStartedError, KafkaInvalidMessageError, KafkaInvalidOptionError } from './errors.js'
import { DeadLetterHeaders, deadLetterTopic, KafkaHeaders } from './headers.js'
import type { KafkaConsumerMetrics, PartitionLag } from './kafka-metrics.js'
import { groupLag } from './lag.js'

/** One consumed Annals message, its payload validated by the handler's schema. */
export type KafkaConsumedMessage<T = unknown> = Readonly<{
  /** The outbox message id (the event id): the inbox deduplicates on it. */
  messageId: string
  type: string
  /** The record key: the message's partition key. */
  key: string | undefined
  payload: T
  /** The record headers (correlation, causation, trace context, the Annals envelope). */
  headers: Readonly<Record<string, string>>
  topic: string
  partition: number
  offset: bigint
  /** Broker timestamp, ms since the epoch. */
  timestamp: bigint
}>

/** The handler of one integration event type: its schema and what it does, inside the inbox's transaction. */
export type KafkaEventHandler<S extends Schema = Schema> = Readonly<{
  schema: S
  /** Writes with `tx`: the inbox records the message id in the same transaction. Throwing rolls both back. */
  handle: (message: KafkaConsumedMessage<SchemaOutput<S>>, tx: PoolClient) => Promise<void>
}>

/**
 * Declares a handler so that its message's payload is typed by the schema.
 * @example handlers: { AccountOpened: kafkaHandler(z.object({ accountId: z.string() }), async (m, tx) => { … }) }
 */
export function kafkaHandler<S extends Schema>(
  schema: S,
  handle: KafkaEventHandler<S>['handle'],
): KafkaEventHandler<S> {
  return { schema, handle }
}

/** What the consumer did with one record (see `onOutcome`). */
export type KafkaConsumeOutcome =
  /** The handler ran and its transaction committed. */
  | 'processed'
  /** The inbox already had the message id: nothing was applied. */
  | 'duplicate'
  /** No handler for the type, or a redrive meant for another group. */
  | 'skipped'
  /** Written to the group's dead-letter topic. */
  | 'dead-lettered'

/** Options of {@link createKafkaConsumer}. */
export type KafkaConsumerOptions = Readonly<{
  brokers: Brokers
  /** The consumer group: every group gets every message; its members share the partitions. Also names the inbox. */
  group: string
  topics: readonly string[]
  /** Default `annals-<group>`. */
  clientId?: string
  // biome-ignore lint/suspicious/noExplicitAny: each handler has its own payload type
  handlers: Readonly<Record<string, KafkaEventHandler<any>>>
  /** The consumer's own Postgres: the handlers' writes and the inbox (`processed_messages`, from `migrateOutbox`). */
  inbox: TableLocation & Readonly<{ pool: Pool }>
  /** Handler runs per message before it is dead-lettered. Default 5. */
  maxAttempts?: number
  /** Pause between attempts. Default 100 ms doubling to 2 s, half jitter. */
  retryBackoff?: BackoffPolicy
  /** A record of a type without a handler: `'skip'` (commit past it, default) or `'dead-letter'`. */
  unknownTypes?: 'skip' | 'dead-letter'
  /** Where the group's dead letters go. Default {@link deadLetterTopic}: `<topic>.<group>.dlq`. */
  deadLetterTopic?: (topic: string, group: string) => string
  /** A new group starts at the earliest offset (default) or only takes records written after it joined. */
  startFrom?: 'earliest' | 'latest'
  /** The broker drops a member silent this long and moves its partitions. Default 10 s. */
  sessionTimeoutMs?: number
  /** Default 1 s. */
  heartbeatIntervalMs?: number
  /** Longest wait of one fetch for new records. Default 500 ms. */
  maxWaitTimeMs?: number
  /** Called after each record; for instrumentation and tests. */
  onOutcome?: (
    outcome: KafkaConsumeOutcome,
    record: Readonly<{ topic: string; partition: number; offset: bigint }>,
  ) => void
  metrics?: KafkaConsumerMetrics
  /** Default: silent. */
  logger?: Logger
  /** Stop gracefully on SIGTERM and SIGINT while running. Default false. */
  handleSignals?: boolean
}>

/** A consumer-group member: handles records in partition order, commits after the effects are durable. */
export interface KafkaConsumer extends Worker {
  /** The partitions this member holds now. */
  assignments(): { topic: string; partition: number }[]
  /** Committed offset, end offset and lag of every partition this member holds. */
  lag(): Promise<PartitionLag[]>
}

type Record_ = Message<string, string, string, string>
type Envelope = { messageId: string; message: KafkaConsumedMessage; handler: KafkaEventHandler }

const tp = (topic: string, partition: number) => `${topic}\u0000${partition}`

/**
 * Creates a Kafka consumer-group member for Annals integration events.
 *
 * - Each record's `annals-message-type` header picks its handler; the payload is validated by the
 *   handler's schema. A record that is not an Annals message or fails the schema is dead-lettered at
 *   once with `annals-dlq-reason: validation` and the issues in `annals-dlq-error`.
 * - The handler runs in a Postgres transaction that also inserts the message id into the inbox
 *   (`createIdempotentHandler`, consumer = the group), so a record delivered again after a crash, a
 *   rebalance or a replay has one effect.
 * - A failing handler is retried `maxAttempts` times with backoff, then the record goes to the group's
 *   dead-letter topic (`annals-dlq-reason: handler`) and the partition moves on.
 * - Offsets are committed only after the record's transaction committed (or its dead letter was
 *   acknowledged), asynchronously and coalesced; a crash before the commit means redelivery, which the
 *   inbox absorbs.
 * - Rebalance: the record in hand is finished (the inbox keeps its effect single if the partition's
 *   new owner reads it too), offsets are committed only for partitions this member still holds, and a
 *   record waiting for a retry whose partition moved is abandoned uncommitted (the new owner has it).
 *   `stop()` finishes the record in hand, commits, and leaves the group so its partitions move at once.
 */
export function createKafkaConsumer(options: KafkaConsumerOptions): KafkaConsumer {
  const bootstrapBrokers = parseBrokers(options.brokers)
  const { group, handlers, metrics } = options
  if (!group) throw new KafkaInvalidOptionError('group', 'must be a non-empty string')
  if (options.topics.length === 0) throw new KafkaInvalidOptionError('topics', 'name at least one topic')
  const maxAttempts = options.maxAttempts ?? 5
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new KafkaInvalidOptionError('maxAttempts', 'must be an integer >= 1')
  }
  const retryDelay = toBackoff(options.retryBackoff, { initialDelayMs: 100, maxDelayMs: 2_000 })
  const dlqTopic = options.deadLetterTopic ?? deadLetterTopic
  const logger = options.logger ?? silentLogger
  const clientId = options.clientId ?? `annals-${group}`
  const topics = [...options.topics]

  const inbox = createIdempotentHandler<Envelope>({
    ...options.inbox,
    consumer: group,
    handle: (e, tx) => e.handler.handle(e.message, tx),
  })

  let consumer: Consumer<string, string, string, string> | undefined
  let dlqProducer: Producer<string, string, string, string> | undefined
  let lagAdmin: Admin | undefined
  let stream: MessagesStream<string, string, string, string> | undefined
  let loop: Promise<void> | undefined
  // Next offset to handle per partition (what this member already did), and offsets waiting to be committed.
  const done = new Map<string, bigint>()
  const pending = new Map<string, { topic: string; partition: number; offset: bigint }>()
  let committing: Promise<void> | undefined

  const newConsumer = () =>
    new Consumer<string, string, string, string>({
      clientId,
      groupId: group,
      bootstrapBrokers,
      deserializers: stringDeserializers,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 1_000,
      rebalanceTimeout: Math.max(options.sessionTimeoutMs ?? 10_000, 10_000),
      maxWaitTime: options.maxWaitTimeMs ?? 500,
      autocommit: false,
    })

  const holds = (topic: string, partition: number): boolean =>
    consumer?.assignments?.some((a) => a.topic === topic && a.partitions.includes(partition)) ?? false

  function assignments(): { topic: string; partition: number }[] {
    return (consumer?.assignments ?? []).flatMap((a) =>
      a.partitions.map((partition) => ({ topic: a.topic, partition })),
    )
  }

  // One commit in flight at a time; what finishes meanwhile rides with the next. Only partitions this
  // member still holds: committing for a partition that moved could pull its new owner's offset back.
  function scheduleCommit(): Promise<void> {
    committing ??= (async () => {
      try {
        while (pending.size > 0 && consumer) {
          const batch = [...pending.values()].filter((o) => holds(o.topic, o.partition))
          pending.clear()
          if (batch.length === 0) return
          try {
            await consumer.commit({ offsets: batch.map((o) => ({ ...o, leaderEpoch: -1 })) })
          } catch (error) {
            for (const o of batch) {
              const key = tp(o.topic, o.partition)
              if (!pending.has(key)) pending.set(key, o)
            }
            logger.warn({ group, err: error }, 'kafka offset commit failed; retried with the next record')
            return
          }
        }
      } finally {
        committing = undefined
      }
    })()
    return committing
  }

  function finish(record: Record_, outcome: KafkaConsumeOutcome): void {
    const key = tp(record.topic, record.partition)
    done.set(key, record.offset + 1n)
    pending.set(key, { topic: record.topic, partition: record.partition, offset: record.offset + 1n })
    void scheduleCommit()
    metrics?.consumed.inc({ group, topic: record.topic, outcome })
    options.onOutcome?.(outcome, record)
  }

  async function deadLetter(
    record: Record_,
    reason: 'validation' | 'handler',
    error: unknown,
    attempts: number,
  ): Promise<boolean> {
    const topic = dlqTopic(record.topic, group)
    const headers: Record<string, string> = {
      ...Object.fromEntries(record.headers),
      [DeadLetterHeaders.sourceTopic]: record.topic,
      [DeadLetterHeaders.sourcePartition]: String(record.partition),
      [DeadLetterHeaders.sourceOffset]: String(record.offset),
      [DeadLetterHeaders.group]: group,
      [DeadLetterHeaders.attempts]: String(attempts),
      [DeadLetterHeaders.reason]: reason,
      [DeadLetterHeaders.error]: describe(error).slice(0, 4000),
      [DeadLetterHeaders.deadAt]: new Date().toISOString(),
    }
    const code = (error as { code?: unknown } | null)?.code
    if (typeof code === 'string') headers[DeadLetterHeaders.errorCode] = code
    // The offset moves past the record only once its dead letter is acknowledged.
    for (let attempt = 1; ; attempt++) {
      if (lifecycle.stopping || !holds(record.topic, record.partition)) return false
      try {
        dlqProducer ??= new Producer({
          clientId: `${clientId}-dlq`,
          bootstrapBrokers,
          serializers: stringSerializers,
          idempotent: true,
          acks: ProduceAcks.ALL,
          autocreateTopics: true,
        })
        await dlqProducer.send({
          messages: [{ topic, key: record.key ?? undefined, value: record.value ?? undefined, headers }],
        })
        logger.error(
          {
            group,
            topic: record.topic,
            partition: record.partition,
            offset: String(record.offset),
            reason,
            err: error,
          },
          'kafka message dead-lettered',
        )
        metrics?.deadLettered.inc({ group, topic: record.topic, reason })
        return true
      } catch (sendError) {
        const p = dlqProducer
        dlqProducer = undefined
        if (p) void closeNow(p)
        logger.warn({ group, topic, err: sendError }, 'kafka dead-letter write failed; retrying')
        await sleep(retryDelay(attempt))
      }
    }
  }

  /** The message inside a record, or why it is not one. */
  function envelope(record: Record_): Envelope | { invalid: KafkaInvalidMessageError } | null {
    const where = { topic: record.topic, partition: record.partition, offset: String(record.offset) }
    const headers = Object.fromEntries(record.headers) as Record<string, string>
    const messageId = headers[KafkaHeaders.messageId]
    const type = headers[KafkaHeaders.type]
    if (!messageId || !type) {
      return {
        invalid: new KafkaInvalidMessageError(where, `no ${KafkaHeaders.messageId}/${KafkaHeaders.type} header`),
      }
    }
    const redriveGroup = headers[KafkaHeaders.redriveGroup]
    if (redriveGroup !== undefined && redriveGroup !== group) return null
    const handler = handlers[type]
    if (!handler) {
      return options.unknownTypes === 'dead-letter'
        ? { invalid: new KafkaInvalidMessageError(where, `no handler for type "${type}"`) }
        : null
    }
    let raw: unknown
    try {
      raw = record.value === undefined ? undefined : JSON.parse(record.value)
    } catch (error) {
      return { invalid: new KafkaInvalidMessageError(where, `value is not JSON: ${describe(error)}`) }
    }
    const result = validateSchema(handler.schema, raw, `kafka message ${type}`)
    if (!result.success) {
      const issues = result.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
      return { invalid: new KafkaInvalidMessageError(where, `payload of ${type} fails its schema: ${issues}`) }
    }
    return {
      messageId,
      handler,
      message: {
        messageId,
        type,
        key: record.key ?? undefined,
        payload: result.value,
        headers,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp,
      },
    }
  }

  async function handleRecord(record: Record_): Promise<void> {
    // A record fetched before a rebalance is finished even if its partition moved meanwhile: skipping it
    // could let a later record of the partition commit past it. The inbox keeps the effect single
    // should the new owner get it too; only the commit is left to the partition's holder.
    const seen = done.get(tp(record.topic, record.partition))
    if (seen !== undefined && record.offset < seen) return // fetched again after a rejoin
    const e = envelope(record)
    if (e === null) return finish(record, 'skipped')
    if ('invalid' in e) {
      if (await deadLetter(record, 'validation', e.invalid, 0)) finish(record, 'dead-lettered')
      return
    }
    for (let attempt = 1; ; attempt++) {
      let outcome: IdempotentOutcome
      try {
        outcome = await inbox(e)
      } catch (error) {
        metrics?.handlerFailures.inc({ group, topic: record.topic })
        if (attempt >= maxAttempts) {
          if (await deadLetter(record, 'handler', error, attempt)) finish(record, 'dead-lettered')
          return
        }
        logger.warn(
          {
            group,
            topic: record.topic,
            partition: record.partition,
            offset: String(record.offset),
            attempt,
            err: error,
          },
          'kafka handler failed; retrying',
        )
        await sleep(retryDelay(attempt))
        // Abandoned uncommitted: the record is redelivered to whoever holds the partition next.
        if (lifecycle.stopping || !holds(record.topic, record.partition)) return
        continue
      }
      return finish(record, outcome)
    }
  }

  async function run(): Promise<void> {
    let failures = 0
    while (!lifecycle.stopping) {
      try {
        consumer ??= newConsumer()
        stream = await consumer.consume({
          topics,
          autocommit: false,
          mode: 'committed',
          fallbackMode: options.startFrom === 'latest' ? 'latest' : 'earliest',
        })
        for await (const record of stream as AsyncIterable<Record_>) {
          if (lifecycle.stopping) break
          await handleRecord(record)
          failures = 0
        }
      } catch (error) {
        if (lifecycle.stopping) break
        failures++
        logger.warn({ group, err: error }, 'kafka consumer stream failed; reconnecting')
        const c = consumer
        consumer = undefined
        if (c) await closeNow(c)
        await sleep(retryDelay(failures))
      } finally {
        const s = stream
        stream = undefined
        await s?.close().catch(() => undefined)
      }
    }
  }

  const lifecycle = createWorkerLifecycle({
    alreadyStarted: () => new KafkaAlreadyStartedError(`The Kafka consumer of group ${group}`),
    handleSignals: options.handleSignals ?? false,
    onStart() {
      loop = run()
      metrics?.track(lagSource)
    },
    async onStop() {
      metrics?.untrack(lagSource)
      await stream?.close().catch(() => undefined)
      await loop
      loop = undefined
      await committing
      await scheduleCommit()
      const c = consumer
      consumer = undefined
      await c?.close().catch((error: unknown) => logger.warn({ group, err: error }, 'kafka consumer close failed'))
      const p = dlqProducer
      dlqProducer = undefined
      await p?.close().catch(() => undefined)
      const a = lagAdmin
      lagAdmin = undefined
      await a?.close().catch(() => undefined)
      done.clear()
      pending.clear()
    },
  })

  async function lag(): Promise<PartitionLag[]> {
    const held = new Set(assignments().map((a) => tp(a.topic, a.partition)))
    if (held.size === 0) return []
    lagAdmin ??= new Admin({ clientId: `${clientId}-lag`, bootstrapBrokers, retries: 1 })
    const all = await groupLag(lagAdmin, group, topics)
    return all.filter((l) => held.has(tp(l.topic, l.partition)))
  }
  const lagSource = { group, lag }

  return {
    start: () => lifecycle.start(),
    stop: () => lifecycle.stop(),
    whenStopped: () => lifecycle.whenStopped(),
    assignments,
    lag,
  }
}
