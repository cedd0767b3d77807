import type { ConsumerDeadLetterLocation } from '@annals/outbox'
import type { SagaStatus } from '@annals/sagas'
import { createPostgresEventStore } from '@annals/store-postgres'
import type { Command } from 'commander'
import type pg from 'pg'
import { connectRedis, pingRedis } from './connections.js'
import { UsageError } from './errors.js'
import { type LoadOptional, SAGA_STATUS_HELP } from './optional-packages.js'
import { formatSeconds, renderTable, toJson } from './output.js'
import { type CliIo, prefixedCommand, type TablePrefixOptions, tablePrefixOf, type WithSession } from './session.js'

function positive(option: string, text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${option} must be a positive integer (got ${text})`)
  return n
}

/**
 * Adds `annals outbox status|dead|retry`, `annals outbox dlq list|redrive` (a Redis consumer group's dead
 * letters, on REDIS_URL) and `annals sagas list|show` (they need no config file). The outbox and saga
 * commands load their package when they run (`load`), so the CLI works without them installed.
 */
export function addOperationsCommands(program: Command, io: CliIo, session: WithSession, load: LoadOptional): void {
  const withSession = <T>(work: (tables: Readonly<{ pool: pg.Pool; schema: string }>) => Promise<T>) =>
    session(({ connections, schema }) => work({ pool: connections.pool, schema }), 'optional')
  const outbox = program.command('outbox').description('the transactional outbox and its relay')
  prefixedCommand(outbox, 'status', 'backlog, age of the oldest unsent message, dead messages', 'outbox tables')
    .option('--json', 'print JSON')
    .action(async (o: TablePrefixOptions & { json?: boolean }) => {
      const { getOutboxStatus } = await load('@annals/outbox', 'outbox status')
      await withSession(async ({ pool, schema }) => {
        const status = await getOutboxStatus({ pool, schema, tablePrefix: tablePrefixOf(o) })
        if (o.json) return io.stdout(`${toJson(status)}\n`)
        io.stdout(
          `${renderTable(
            ['PENDING', 'OLDEST PENDING', 'DEAD', 'SENT (RETAINED)'],
            [
              [
                String(status.pending),
                status.oldestPendingAgeMs === null ? '-' : formatSeconds(status.oldestPendingAgeMs / 1000),
                String(status.dead),
                String(status.sentRetained),
              ],
            ],
          )}\n`,
        )
      })
    })
  prefixedCommand(
    outbox,
    'dead',
    'messages that exhausted their attempts (their keys wait behind them)',
    'outbox tables',
  )
    .option('--topic <topic>', 'only this topic')
    .option('--limit <n>', 'at most n messages', '100')
    .option('--json', 'print JSON')
    .action(async (o: TablePrefixOptions & { topic?: string; limit: string; json?: boolean }) => {
      const limit = positive('--limit', o.limit)
      const { listDeadMessages } = await load('@annals/outbox', 'outbox dead')
      await withSession(async ({ pool, schema }) => {
        const dead = await listDeadMessages({
          pool,
          schema,
          tablePrefix: tablePrefixOf(o),
          limit,
          ...(o.topic ? { topic: o.topic } : {}),
        })
        if (o.json) return io.stdout(`${toJson(dead)}\n`)
        io.stdout(
          `${renderTable(
            ['MESSAGE', 'TOPIC', 'KEY', 'TYPE', 'ATTEMPTS', 'ERROR'],
            dead.map((m) => [
              m.messageId,
              m.topic,
              m.partitionKey,
              m.type,
              String(m.attempts),
              (m.lastError ?? '').slice(0, 80),
            ]),
          )}\n`,
        )
      })
    })
  prefixedCommand(outbox, 'retry', 'put dead messages back in line (all, or the given message ids)', 'outbox tables')
    .option('--id <messageId...>', 'only these message ids')
    .option('--json', 'print JSON')
    .action(async (o: TablePrefixOptions & { id?: string[]; json?: boolean }) => {
      const { retryDeadMessages } = await load('@annals/outbox', 'outbox retry')
      await withSession(async ({ pool, schema }) => {
        const { retried } = await retryDeadMessages({
          pool,
          schema,
          tablePrefix: tablePrefixOf(o),
          ...(o.id ? { messageIds: o.id } : {}),
        })
        if (o.json) return io.stdout(`${toJson({ retried })}\n`)
        io.stdout(`${retried} dead message(s) put back in line; the relay publishes them in key order\n`)
      })
    })

  const dlq = outbox
    .command('dlq')
    .description("a Redis Streams consumer group's dead letters (messages its handler kept failing on)")
  /** Runs `work` on the group's dead-letter stream, on REDIS_URL. */
  const withDeadLetters = async <T>(
    o: DeadLetterOptions,
    work: (location: ConsumerDeadLetterLocation) => Promise<T>,
  ): Promise<T> => {
    const redis = connectRedis(io.env, 'the consumer groups live in Redis', 'outbox dlq')
    try {
      await pingRedis(redis, io.env)
      return await work({ redis, keyPrefix: o.keyPrefix, topic: o.topic, group: o.group })
    } finally {
      redis.disconnect()
    }
  }
  deadLetterCommand(dlq, 'list', 'dead letters of a consumer group, oldest first')
    .option('--limit <n>', 'at most n dead letters', '100')
    .option('--json', 'print JSON')
    .action(async (o: DeadLetterOptions & { limit: string; json?: boolean }) => {
      const limit = positive('--limit', o.limit)
      const { listConsumerDeadLetters } = await load('@annals/outbox', 'outbox dlq list')
      await withDeadLetters(o, async (location) => {
        const letters = await listConsumerDeadLetters({ ...location, limit })
        if (o.json) return io.stdout(`${toJson(letters)}\n`)
        io.stdout(
          `${renderTable(
            ['ID', 'MESSAGE', 'KEY', 'TYPE', 'ENTRY', 'DELIVERIES', 'CODE', 'ERROR'],
            letters.map((l) => [
              l.id,
              l.messageId,
              l.partitionKey,
              l.type,
              l.entryId,
              l.deliveries === null ? '-' : String(l.deliveries),
              l.errorCode ?? '-',
              l.error.slice(0, 80),
            ]),
          )}\n`,
        )
      })
    })
  deadLetterCommand(dlq, 'redrive', "put dead letters back on the topic's stream for this group, once each")
    .option('--id <id...>', 'only these dead letters (the ID column of list)')
    .option('--json', 'print JSON')
    .action(async (o: DeadLetterOptions & { id?: string[]; json?: boolean }) => {
      for (const id of o.id ?? []) {
        if (!/^\d+-\d+$/.test(id)) throw new UsageError(`--id ${id} is not a stream entry id (like 1700000000000-0)`)
      }
      const { redriveConsumerDeadLetters } = await load('@annals/outbox', 'outbox dlq redrive')
      await withDeadLetters(o, async (location) => {
        const result = await redriveConsumerDeadLetters({ ...location, ...(o.id ? { ids: o.id } : {}) })
        if (o.json) return io.stdout(`${toJson(result)}\n`)
        io.stdout(`${result.redriven} dead letter(s) redriven; the group's consumers handle them again\n`)
      })
    })

  const sagas = program.command('sagas').description('saga instances: progress, compensation, history')
  prefixedCommand(sagas, 'list', 'saga instances, most recently updated first', 'saga tables')
    .option('--status <status...>', `only these statuses (${SAGA_STATUS_HELP.join(', ')})`)
    .option('--saga <name>', 'only instances of this saga')
    .option('--limit <n>', 'at most n rows', '100')
    .option('--json', 'print JSON')
    .action(async (o: TablePrefixOptions & { status?: string[]; saga?: string; limit: string; json?: boolean }) => {
      const limit = positive('--limit', o.limit)
      const { SAGA_STATUSES } = await load('@annals/sagas', 'sagas list')
      const { countSagas, listSagas } = await load('@annals/sagas/postgres', 'sagas list')
      for (const status of o.status ?? []) {
        if (!SAGA_STATUSES.includes(status as SagaStatus)) {
          throw new UsageError(`--status ${status} is not one of ${SAGA_STATUSES.join(', ')}`)
        }
      }
      await withSession(async ({ pool, schema }) => {
        const tablePrefix = tablePrefixOf(o)
        const rows = await listSagas({
          pool,
          schema,
          tablePrefix,
          limit,
          ...(o.status ? { status: o.status as SagaStatus[] } : {}),
          ...(o.saga ? { saga: o.saga } : {}),
        })
        if (o.json) {
          const counts = await countSagas({ pool, schema, tablePrefix, ...(o.saga ? { saga: o.saga } : {}) })
          return io.stdout(`${toJson({ counts, sagas: rows })}\n`)
        }
        io.stdout(
          `${renderTable(
            ['SAGA', 'ID', 'STATUS', 'STEP', 'DEADLINE', 'ATTEMPTS', 'UPDATED', 'LAST ERROR'],
            rows.map((s) => [
              s.saga,
              s.sagaId,
              s.status,
              s.currentStep ?? '-',
              s.deadlineAt?.toISOString() ?? '-',
              String(s.attempts),
              s.updatedAt.toISOString(),
              (s.lastError ?? '').slice(0, 60),
            ]),
          )}\n`,
        )
      })
    })
  prefixedCommand(sagas, 'show', "one saga instance's state and step history", 'event store and saga tables')
    .argument('<saga>', 'saga name')
    .argument('<id>', 'saga instance id')
    .option('--json', 'print JSON')
    .action(async (saga: string, id: string, o: TablePrefixOptions & { json?: boolean }) => {
      const { getSaga } = await load('@annals/sagas/postgres', 'sagas show')
      await withSession(async ({ pool, schema }) => {
        const tablePrefix = tablePrefixOf(o)
        const store = createPostgresEventStore({ pool, schema, tablePrefix })
        const details = await getSaga({ store, pool, schema, tablePrefix }, saga, id)
        if (o.json) return io.stdout(`${toJson(details)}\n`)
        io.stdout(`${saga} ${id}: ${details.state.status}\n`)
        io.stdout(
          `${renderTable(
            ['VERSION', 'TIME', 'ENTRY', 'STEP'],
            details.history.map((h) => [h.version.toString(), h.recordedAt.toISOString(), h.type, h.step ?? '-']),
          )}\n`,
        )
      })
    })
}

/** The options naming a consumer group's dead-letter stream. */
type DeadLetterOptions = Readonly<{ topic: string; group: string; keyPrefix: string }>

function deadLetterCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .requiredOption('--topic <topic>', 'the topic the group consumes')
    .requiredOption('--group <group>', 'the consumer group')
    .option('--key-prefix <prefix>', "the publisher's and consumer's Redis key prefix", 'annals')
}
