import type { Admin } from '@platformatic/kafka'
import { describe } from './client.js'
import { KafkaBrokerError, KafkaUnknownTopicError } from './errors.js'
import type { PartitionLag } from './kafka-metrics.js'

/** Earliest and end (next) offsets of every partition of `topics`. @internal */
export async function topicOffsets(
  admin: Admin,
  topics: readonly string[],
): Promise<Map<string, { partition: number; start: bigint; end: bigint }[]>> {
  if (topics.length === 0) return new Map()
  let metadata: Awaited<ReturnType<Admin['metadata']>>
  try {
    metadata = await admin.metadata({ topics: [...topics], autocreateTopics: false })
  } catch (error) {
    const unknown = topics.find((t) => describe(error).includes(t))
    if (unknown !== undefined || /UNKNOWN_TOPIC|does not host this topic/i.test(describe(error))) {
      throw new KafkaUnknownTopicError(unknown ?? topics.join(','), { cause: error })
    }
    throw new KafkaBrokerError('metadata', { cause: error })
  }
  const request = (timestamp: bigint) =>
    topics.map((name) => {
      const t = metadata.topics.get(name)
      if (!t) throw new KafkaUnknownTopicError(name)
      return {
        name,
        partitions: Array.from({ length: t.partitionsCount }, (_, p) => ({ partitionIndex: p, timestamp })),
      }
    })
  const [earliest, latest] = await Promise.all([
    admin.listOffsets({ topics: request(-2n) }),
    admin.listOffsets({ topics: request(-1n) }),
  ]).catch((error: unknown) => {
    if (error instanceof KafkaUnknownTopicError) throw error
    throw new KafkaBrokerError('listOffsets', { cause: error })
  })
  const result = new Map<string, { partition: number; start: bigint; end: bigint }[]>()
  for (const t of latest) {
    const starts = new Map(earliest.find((e) => e.name === t.name)?.partitions.map((p) => [p.partitionIndex, p.offset]))
    result.set(
      t.name,
      t.partitions
        .map((p) => ({ partition: p.partitionIndex, start: starts.get(p.partitionIndex) ?? 0n, end: p.offset }))
        .sort((a, b) => a.partition - b.partition),
    )
  }
  return result
}

/** The committed offsets of a group, per topic and partition (`-1` entries left out). @internal */
export async function committedOffsets(admin: Admin, group: string): Promise<Map<string, Map<number, bigint>>> {
  let groups: Awaited<ReturnType<Admin['listConsumerGroupOffsets']>>
  try {
    groups = await admin.listConsumerGroupOffsets({ groups: [group] })
  } catch (error) {
    throw new KafkaBrokerError('listConsumerGroupOffsets', { cause: error })
  }
  const result = new Map<string, Map<number, bigint>>()
  for (const g of groups) {
    for (const t of g.topics) {
      const partitions = result.get(t.name) ?? new Map<number, bigint>()
      for (const p of t.partitions) if (p.committedOffset >= 0n) partitions.set(p.partitionIndex, p.committedOffset)
      result.set(t.name, partitions)
    }
  }
  return result
}

/**
 * Lag of a group on every partition of `topics` (default: the topics it has committed on): end offset
 * minus committed offset, or minus the earliest offset where it has committed nothing. @internal
 */
export async function groupLag(admin: Admin, group: string, topics?: readonly string[]): Promise<PartitionLag[]> {
  const committed = await committedOffsets(admin, group)
  const names = topics ?? [...committed.keys()].sort()
  const offsets = await topicOffsets(admin, names)
  const lags: PartitionLag[] = []
  for (const topic of names) {
    for (const { partition, start, end } of offsets.get(topic) ?? []) {
      const c = committed.get(topic)?.get(partition)
      const from = c === undefined || c < start ? start : c
      lags.push({ group, topic, partition, committed: c ?? null, start, end, lag: end > from ? end - from : 0n })
    }
  }
  return lags
}
