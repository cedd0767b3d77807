import {
  Admin,
  Consumer,
  type Message,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka'
import { type Brokers, parseBrokers } from './brokers.js'
import { describe } from './client.js'
import { KafkaBrokerError, KafkaGroupActiveError, KafkaInvalidOptionError, KafkaUnknownGroupError } from './errors.js'
import { DeadLetterHeaders, deadLetterTopic, KafkaHeaders } from './headers.js'
import type { PartitionLag } from './kafka-metrics.js'
import { committedOffsets, groupLag, topicOffsets } from './lag.js'

/** Options of {@link createKafkaAdmin}. */
export type KafkaAdminOptions = Readonly<{
  brokers: Brokers
  /** Default `annals-admin`. */
  clientId?: string
  /** Where a group's dead letters are. Default `<topic>.<group>.dlq`, as the consumer's default. */
  deadLetterTopic?: (topic: string, group: string) => string
}>

/** A consumer group as the broker sees it, with its lag per partition. */
export type KafkaGroupInfo = Readonly<{
  group: string
  /** `STABLE`, `EMPTY`, `PREPARING_REBALANCE`, `COMPLETING_REBALANCE` or `DEAD`. */
  state: string
  members: number
  partitions: readonly PartitionLag[]
}>

/** Where {@link KafkaAdmin.resetGroupOffsets} moves a group: an offset (clamped to the log), a time, or the earliest offset. */
export type OffsetTarget =
  | Readonly<{ offset: bigint | number }>
  | Readonly<{ time: Date }>
  | Readonly<{ earliest: true }>
  | Readonly<{ latest: true }>

/** One partition of an offset reset. */
export type OffsetReset = Readonly<{ topic: string; partition: number; from: bigint | null; to: bigint }>

/** A record of a group's dead-letter topic that has not been redriven yet. */
export type KafkaDeadLetter = Readonly<{
  /** The dead-letter topic, partition and offset. */
  topic: string
  partition: number
  offset: bigint
  messageId: string | undefined
  type: string | undefined
  key: string | undefined
  value: string | undefined
  sourceTopic: string | undefined
  sourcePartition: number | undefined
  sourceOffset: bigint | undefined
  /** `validation` or `handler`. */
  reason: string | undefined
  error: string | undefined
  attempts: number | undefined
  deadAt: string | undefined
  /** Every header of the dead letter. */
  headers: Readonly<Record<string, string>>
}>

/** Admin operations on consumer groups and their dead-letter topics. */
export interface KafkaAdmin {
  /** Every consumer group (or the ones named), with state, member count and lag per partition. */
  listGroups(groups?: readonly string[]): Promise<KafkaGroupInfo[]>
  /**
   * Moves a stopped group's committed offsets on `topic` (every partition) to `to`. Refuses with
   * `KafkaGroupActiveError` while the group has members: a running member would overwrite the reset.
   */
  resetGroupOffsets(options: Readonly<{ group: string; topic: string; to: OffsetTarget }>): Promise<OffsetReset[]>
  /** The dead letters of `group` on `topic` not redriven yet, oldest first. */
  listDeadLetters(options: Readonly<{ group: string; topic: string }>): Promise<KafkaDeadLetter[]>
  /**
   * Puts every pending dead letter of `group` on `topic` back on its source topic (same key, so the same
   * partition; original headers plus `annals-redrive-group`, so only this group handles it again), then
   * moves the redrive cursor past them. A crash in between redrives them again: the inbox keeps one effect.
   */
  redriveDeadLetters(options: Readonly<{ group: string; topic: string }>): Promise<{ redriven: number }>
  close(): Promise<void>
}

/** The consumer group whose committed offset on a dead-letter topic marks what was redriven. */
export function redriveCursorGroup(group: string): string {
  return `${group}.dlq-redrive`
}

type Rec = Message<string, string, string, string>

/** Creates the admin client the CLI's `annals kafka …` commands use. */
export function createKafkaAdmin(options: KafkaAdminOptions): KafkaAdmin {
  const bootstrapBrokers = parseBrokers(options.brokers)
  const clientId = options.clientId ?? 'annals-admin'
  const dlqTopic = options.deadLetterTopic ?? deadLetterTopic
  const admin = new Admin({ clientId, bootstrapBrokers, retries: 2, retryDelay: 200 })

  async function describeGroup(group: string): Promise<{ state: string; members: number } | null> {
    let described: Awaited<ReturnType<Admin['describeGroups']>>
    try {
      described = await admin.describeGroups({ groups: [group] })
    } catch (error) {
      throw new KafkaBrokerError('describeGroups', { cause: error })
    }
    const g = described.get(group)
    if (!g || g.state === 'DEAD') return null
    return { state: g.state, members: g.members.size }
  }

  async function knownGroups(): Promise<string[]> {
    try {
      const groups = await admin.listGroups()
      return [...groups.values()].filter((g) => g.protocolType === 'consumer' || g.protocolType === '').map((g) => g.id)
    } catch (error) {
      throw new KafkaBrokerError('listGroups', { cause: error })
    }
  }

  /**
   * Reads the dead-letter topic from the cursor group's committed offsets to the end it had when the
   * call began. Joins the cursor group (one member) so its offsets can be committed afterwards.
   */
  async function readPending(
    group: string,
    topic: string,
    then: (records: Rec[], commit: (records: Rec[]) => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const dlq = dlqTopic(topic, group)
    const ends = await topicOffsets(admin, [dlq]).catch((error: unknown) => {
      if (/does not exist|UNKNOWN_TOPIC/i.test(describe(error))) return null
      throw error
    })
    const partitions = ends?.get(dlq) ?? []
    const cursor = redriveCursorGroup(group)
    const committed = (await committedOffsets(admin, cursor)).get(dlq) ?? new Map<number, bigint>()
    const remaining = new Map<number, bigint>()
    for (const p of partitions) {
      const from = committed.get(p.partition) ?? p.start
      if (p.end > from) remaining.set(p.partition, p.end)
    }
    if (remaining.size === 0) return then([], async () => {})
    const consumer = new Consumer<string, string, string, string>({
      clientId: `${clientId}-dlq`,
      groupId: cursor,
      bootstrapBrokers,
      deserializers: stringDeserializers,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTime: 200,
      autocommit: false,
    })
    try {
      const stream = await consumer.consume({ topics: [dlq], mode: 'committed', fallbackMode: 'earliest' })
      const records: Rec[] = []
      try {
        for await (const r of stream as AsyncIterable<Rec>) {
          const end = remaining.get(r.partition)
          if (end !== undefined && r.offset < end) records.push(r)
          if (end !== undefined && r.offset + 1n >= end) remaining.delete(r.partition)
          if (remaining.size === 0) break
        }
      } finally {
        await stream.close().catch(() => undefined)
      }
      records.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : 1))
      await then(records, async (done) => {
        const last = new Map<number, bigint>()
        for (const r of done) last.set(r.partition, r.offset + 1n)
        if (last.size === 0) return
        await consumer.commit({
          offsets: [...last].map(([partition, offset]) => ({ topic: dlq, partition, offset, leaderEpoch: -1 })),
        })
      })
    } catch (error) {
      if (error instanceof KafkaBrokerError) throw error
      throw new KafkaBrokerError(`reading ${dlq}`, { cause: error })
    } finally {
      await consumer.close().catch(() => undefined)
    }
  }

  return {
    async listGroups(groups) {
      const names = groups ? [...groups] : (await knownGroups()).sort()
      const result: KafkaGroupInfo[] = []
      for (const group of names) {
        const d = await describeGroup(group)
        const partitions = await groupLag(admin, group)
        if (!d && partitions.length === 0) {
          if (groups) throw new KafkaUnknownGroupError(group)
          continue
        }
        result.push({ group, state: d?.state ?? 'EMPTY', members: d?.members ?? 0, partitions })
      }
      return result
    },

    async resetGroupOffsets({ group, topic, to }) {
      const d = await describeGroup(group)
      const committed = await committedOffsets(admin, group)
      if (!d && committed.size === 0) throw new KafkaUnknownGroupError(group)
      if (d && d.members > 0) throw new KafkaGroupActiveError(group, d.members, d.state)
      const partitions = (await topicOffsets(admin, [topic])).get(topic) ?? []
      let target: Map<number, bigint>
      if ('offset' in to) {
        const n = BigInt(to.offset)
        if (n < 0n) throw new KafkaInvalidOptionError('to.offset', 'must be >= 0')
        target = new Map(partitions.map((p) => [p.partition, n < p.start ? p.start : n > p.end ? p.end : n]))
      } else if ('time' in to) {
        const ms = to.time.getTime()
        if (!Number.isFinite(ms)) throw new KafkaInvalidOptionError('to.time', 'must be a valid date')
        let listed: Awaited<ReturnType<Admin['listOffsets']>>
        try {
          listed = await admin.listOffsets({
            topics: [
              {
                name: topic,
                partitions: partitions.map((p) => ({ partitionIndex: p.partition, timestamp: BigInt(ms) })),
              },
            ],
          })
        } catch (error) {
          throw new KafkaBrokerError('listOffsets', { cause: error })
        }
        const found = new Map(listed[0]?.partitions.map((p) => [p.partitionIndex, p.offset]))
        // No record at or after the time: the end of the partition.
        target = new Map(
          partitions.map((p) => {
            const o = found.get(p.partition)
            return [p.partition, o === undefined || o < 0n ? p.end : o]
          }),
        )
      } else if ('earliest' in to) {
        target = new Map(partitions.map((p) => [p.partition, p.start]))
      } else {
        target = new Map(partitions.map((p) => [p.partition, p.end]))
      }
      try {
        await admin.alterConsumerGroupOffsets({
          groupId: group,
          topics: [
            { name: topic, partitionOffsets: [...target].map(([partition, offset]) => ({ partition, offset })) },
          ],
        })
      } catch (error) {
        // A member joined between the check and the write: the broker refuses with a rebalance error.
        const again = await describeGroup(group).catch(() => null)
        if (again && again.members > 0) throw new KafkaGroupActiveError(group, again.members, again.state)
        throw new KafkaBrokerError('alterConsumerGroupOffsets', { cause: error })
      }
      const before = committed.get(topic)
      return [...target].map(([partition, offset]) => ({
        topic,
        partition,
        from: before?.get(partition) ?? null,
        to: offset,
      }))
    },

    async listDeadLetters({ group, topic }) {
      let letters: KafkaDeadLetter[] = []
      await readPending(group, topic, async (records) => {
        letters = records.map(toDeadLetter)
      })
      return letters
    },

    async redriveDeadLetters({ group, topic }) {
      let redriven = 0
      await readPending(group, topic, async (records, commit) => {
        if (records.length === 0) return
        const producer = new Producer<string, string, string, string>({
          clientId: `${clientId}-redrive`,
          bootstrapBrokers,
          serializers: stringSerializers,
          idempotent: true,
          acks: ProduceAcks.ALL,
        })
        try {
          await producer.send({
            messages: records.map((r) => {
              const headers: Record<string, string> = {}
              for (const [k, v] of r.headers) if (!k.startsWith('annals-dlq-')) headers[k] = v
              headers[KafkaHeaders.redriveGroup] = group
              const source = r.headers.get(DeadLetterHeaders.sourceTopic) ?? topic
              return { topic: source, key: r.key ?? undefined, value: r.value ?? undefined, headers }
            }),
          })
        } catch (error) {
          throw new KafkaBrokerError('redrive send', { cause: error })
        } finally {
          await producer.close().catch(() => undefined)
        }
        await commit(records)
        redriven = records.length
      })
      return { redriven }
    },

    close: () => admin.close(),
  }
}

function toDeadLetter(r: Rec): KafkaDeadLetter {
  const h = Object.fromEntries(r.headers) as Record<string, string>
  const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v))
  return {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    messageId: h[KafkaHeaders.messageId],
    type: h[KafkaHeaders.type],
    key: r.key ?? undefined,
    value: r.value ?? undefined,
    sourceTopic: h[DeadLetterHeaders.sourceTopic],
    sourcePartition: num(h[DeadLetterHeaders.sourcePartition]),
    sourceOffset: bigintOf(h[DeadLetterHeaders.sourceOffset]),
    reason: h[DeadLetterHeaders.reason],
    error: h[DeadLetterHeaders.error],
    attempts: num(h[DeadLetterHeaders.attempts]),
    deadAt: h[DeadLetterHeaders.deadAt],
    headers: h,
  }
}

function bigintOf(v: string | undefined): bigint | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined
  return BigInt(v)
}
