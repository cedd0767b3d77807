import { randomBytes } from 'node:crypto'
import { createKafkaPublisher } from '@annals/kafka'
import { Admin } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { runCli } from '../src/program.js'

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'

async function annals(args: readonly string[]) {
  let stdout = ''
  let stderr = ''
  const status = await runCli(args, {
    env: process.env,
    cwd: process.cwd(),
    stdout: (t) => {
      stdout += t
    },
    stderr: (t) => {
      stderr += t
    },
  })
  return { status, stdout, stderr }
}

describe('annals kafka (real broker)', () => {
  it('shows a group with lag per partition, replays it to the earliest offset, lists an empty dead-letter topic', async () => {
    const topic = `cli-${randomBytes(4).toString('hex')}`
    const group = `cli-group-${randomBytes(4).toString('hex')}`
    const admin = new Admin({ clientId: 'cli-test', bootstrapBrokers: BROKERS.split(',') })
    try {
      await admin.createTopics({ topics: [topic], partitions: 2, replicas: 1 })
      const publisher = createKafkaPublisher({ brokers: BROKERS })
      await publisher.publish(
        Array.from({ length: 6 }, (_, i) => ({
          messageId: `m-${i}`,
          topic,
          partitionKey: `k-${i % 3}`,
          type: 'Stepped',
          payload: { i },
          headers: {},
        })),
      )
      await publisher.close()
      // A group that read everything (committed at the end of both partitions).
      const ends = await admin.listOffsets({
        topics: [{ name: topic, partitions: [0, 1].map((p) => ({ partitionIndex: p, timestamp: -1n })) }],
      })
      await admin.alterConsumerGroupOffsets({
        groupId: group,
        topics: [
          {
            name: topic,
            partitionOffsets: (ends[0]?.partitions ?? []).map((p) => ({
              partition: p.partitionIndex,
              offset: p.offset,
            })),
          },
        ],
      })
    } finally {
      await admin.close()
    }

    const groups = await annals(['kafka', '--brokers', BROKERS, 'groups', group, '--json'])
    expect(groups.stderr).toBe('')
    const [info] = JSON.parse(groups.stdout) as { group: string; partitions: { lag: string }[] }[]
    expect(info?.group).toBe(group)
    expect(info?.partitions.map((p) => p.lag)).toEqual(['0', '0'])

    const usage = await annals(['kafka', '--brokers', BROKERS, 'replay', group, '--topic', topic])
    expect(usage.status).toBe(2)
    expect(usage.stderr).toContain('ANNALS_CLI_ERR_USAGE')

    const replay = await annals(['kafka', '--brokers', BROKERS, 'replay', group, '--topic', topic, '--to-earliest'])
    expect(replay.stderr).toBe('')
    expect(replay.status).toBe(0)
    expect(replay.stdout).toContain(`${topic}[0]`)
    const after = JSON.parse((await annals(['kafka', '--brokers', BROKERS, 'groups', group, '--json'])).stdout)
    expect(after[0].partitions.reduce((s: number, p: { lag: string }) => s + Number(p.lag), 0)).toBe(6)

    const dlq = await annals(['kafka', '--brokers', BROKERS, 'dlq', 'list', group, '--topic', topic])
    expect(dlq.status).toBe(0)
    expect(dlq.stdout.trim().split('\n')).toHaveLength(1) // the header only
  })
})
