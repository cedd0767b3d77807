import type { KafkaAdmin, OffsetTarget } from '@annals/kafka'
import type { Command } from 'commander'
import { MissingEnvError, UsageError } from './errors.js'
import type { LoadOptional } from './optional-packages.js'
import { renderTable, toJson } from './output.js'
import type { CliIo } from './session.js'

type BrokerOptions = { brokers?: string }

/** The `--to-*` options of `annals kafka replay`, exactly one of which is given. */
export function offsetTargetOf(
  o: Readonly<{ toOffset?: string; toTime?: string; toEarliest?: boolean }>,
): OffsetTarget {
  const given = [o.toOffset !== undefined, o.toTime !== undefined, o.toEarliest === true].filter(Boolean).length
  if (given !== 1) throw new UsageError('give exactly one of --to-offset <n>, --to-time <iso>, --to-earliest')
  if (o.toOffset !== undefined) {
    if (!/^\d+$/.test(o.toOffset)) throw new UsageError(`--to-offset must be an offset >= 0 (got ${o.toOffset})`)
    return { offset: BigInt(o.toOffset) }
  }
  if (o.toTime !== undefined) {
    const time = new Date(o.toTime)
    if (Number.isNaN(time.getTime())) throw new UsageError(`--to-time must be an ISO date and time (got ${o.toTime})`)
    return { time }
  }
  return { earliest: true }
}

/**
 * Adds `annals kafka groups`, `annals kafka replay <group>` and `annals kafka dlq list|redrive`, on the
 * brokers of `--brokers` or `$KAFKA_BROKERS`. They load `@annals/kafka` when they run (`load`), so the
 * CLI works without it installed, and need no database.
 */
export function addKafkaCommands(program: Command, io: CliIo, load: LoadOptional): void {
  const kafka = program
    .command('kafka')
    .description('Kafka consumer groups: lag, offset replay, dead-letter topics')
    .option('--brokers <list>', 'comma-separated host:port (default: $KAFKA_BROKERS)')
  const withAdmin = async <T>(command: string, work: (admin: KafkaAdmin) => Promise<T>): Promise<T> => {
    const brokers = (kafka.opts() as BrokerOptions).brokers ?? io.env.KAFKA_BROKERS
    if (!brokers) throw new MissingEnvError('KAFKA_BROKERS', `kafka ${command} needs the brokers; or pass --brokers`)
    const { createKafkaAdmin } = await load('@annals/kafka', `kafka ${command}`)
    const admin = createKafkaAdmin({ brokers })
    try {
      return await work(admin)
    } finally {
      await admin.close()
    }
  }

  kafka
    .command('groups')
    .description('consumer groups with state, members and lag per partition')
    .argument('[groups...]', 'only these groups')
    .option('--json', 'print JSON')
    .action(async (groups: string[], o: { json?: boolean }) => {
      await withAdmin('groups', async (admin) => {
        const infos = await admin.listGroups(groups.length > 0 ? groups : undefined)
        if (o.json) return io.stdout(`${toJson(infos)}\n`)
        const rows = infos.flatMap((g) =>
          g.partitions.length === 0
            ? [[g.group, g.state, String(g.members), '-', '-', '-', '-']]
            : g.partitions.map((p) => [
                g.group,
                g.state,
                String(g.members),
                `${p.topic}[${p.partition}]`,
                p.committed === null ? '-' : String(p.committed),
                String(p.end),
                String(p.lag),
              ]),
        )
        io.stdout(`${renderTable(['GROUP', 'STATE', 'MEMBERS', 'PARTITION', 'COMMITTED', 'END', 'LAG'], rows)}\n`)
      })
    })

  kafka
    .command('replay')
    .description('move a stopped group back (or forward) on a topic; its consumers must be stopped first')
    .argument('<group>', 'the consumer group')
    .requiredOption('--topic <topic>', 'the topic whose offsets move (every partition)')
    .option('--to-offset <n>', 'this offset on every partition (clamped to what the log holds)')
    .option('--to-time <iso>', 'the first offset at or after this time')
    .option('--to-earliest', 'the earliest offset still in the log')
    .option('--json', 'print JSON')
    .action(
      async (
        group: string,
        o: { topic: string; toOffset?: string; toTime?: string; toEarliest?: boolean; json?: boolean },
      ) => {
        const to = offsetTargetOf(o)
        await withAdmin('replay', async (admin) => {
          const resets = await admin.resetGroupOffsets({ group, topic: o.topic, to })
          if (o.json) return io.stdout(`${toJson(resets)}\n`)
          io.stdout(
            `${renderTable(
              ['PARTITION', 'FROM', 'TO'],
              resets.map((r) => [`${r.topic}[${r.partition}]`, r.from === null ? '-' : String(r.from), String(r.to)]),
            )}\n${group} will re-read ${o.topic} from these offsets when its consumers start again\n`,
          )
        })
      },
    )

  const dlq = kafka.command('dlq').description("a consumer group's dead-letter topic (<topic>.<group>.dlq)")
  dlq
    .command('list')
    .description('dead letters not redriven yet, oldest first')
    .argument('<group>', 'the consumer group')
    .requiredOption('--topic <topic>', 'the source topic')
    .option('--json', 'print JSON')
    .action(async (group: string, o: { topic: string; json?: boolean }) => {
      await withAdmin('dlq list', async (admin) => {
        const letters = await admin.listDeadLetters({ group, topic: o.topic })
        if (o.json) return io.stdout(`${toJson(letters)}\n`)
        io.stdout(
          `${renderTable(
            ['OFFSET', 'MESSAGE', 'TYPE', 'KEY', 'SOURCE', 'REASON', 'ATTEMPTS', 'ERROR'],
            letters.map((l) => [
              String(l.offset),
              l.messageId ?? '-',
              l.type ?? '-',
              l.key ?? '-',
              l.sourceTopic === undefined ? '-' : `${l.sourceTopic}[${l.sourcePartition}]@${l.sourceOffset}`,
              l.reason ?? '-',
              l.attempts === undefined ? '-' : String(l.attempts),
              (l.error ?? '').slice(0, 80),
            ]),
          )}\n`,
        )
      })
    })
  dlq
    .command('redrive')
    .description('put every pending dead letter back on its source topic, for this group only')
    .argument('<group>', 'the consumer group')
    .requiredOption('--topic <topic>', 'the source topic')
    .action(async (group: string, o: { topic: string }) => {
      await withAdmin('dlq redrive', async (admin) => {
        const { redriven } = await admin.redriveDeadLetters({ group, topic: o.topic })
        io.stdout(`redrove ${redriven} dead letter(s) of ${group} to ${o.topic}\n`)
      })
    })
}
