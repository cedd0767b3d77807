import { pruneProcessedMessages } from '@annals/outbox'
import { waitFor } from '@annals/test-support'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { KafkaErrorCodes } from '../src/errors.js'
import { createKafkaAdmin } from '../src/kafka-admin.js'
import { createKafkaConsumer, type KafkaConsumeOutcome, kafkaHandler } from '../src/kafka-consumer.js'
import { createKafkaConsumerMetrics } from '../src/kafka-metrics.js'
import { BROKERS, createTopic, publishSteps, setupConsumerSchema, unique, useDatabase } from './helpers.js'

const bed = useDatabase('replay')

describe('replay', () => {
  it('replay to an offset or a time re-delivers with single effects; replay to earliest rebuilds the same read model; lag per partition', async () => {
    const schema = 'replay'
    await setupConsumerSchema(bed.db, schema)
    await bed.db.pool.query(
      `CREATE TABLE ${schema}.balances (key text PRIMARY KEY, total int NOT NULL, n int NOT NULL)`,
    )
    const topic = unique('replay')
    const group = unique('ledger')
    await createTopic(topic, 3)
    const wave = (from: number) =>
      Array.from({ length: 30 }, (_, i) => ({ key: `acct-${i % 6}`, seq: from + i, extra: { amount: from + i } }))
    await publishSteps(topic, wave(1))
    await new Promise((r) => setTimeout(r, 1_100))
    const between = new Date()
    await new Promise((r) => setTimeout(r, 1_100))
    await publishSteps(topic, wave(31))

    const registry = new Registry()
    const metrics = createKafkaConsumerMetrics({ registry })
    let outcomes: KafkaConsumeOutcome[] = []
    const consumer = createKafkaConsumer({
      brokers: BROKERS,
      group,
      topics: [topic],
      inbox: { pool: bed.db.pool, schema },
      maxWaitTimeMs: 100,
      metrics,
      onOutcome: (o) => outcomes.push(o),
      handlers: {
        Stepped: kafkaHandler(z.object({ key: z.string(), amount: z.number() }), async (m, tx) => {
          await tx.query(
            `INSERT INTO ${schema}.balances (key, total, n) VALUES ($1, $2, 1)
             ON CONFLICT (key) DO UPDATE SET total = balances.total + excluded.total, n = balances.n + 1`,
            [m.payload.key, m.payload.amount],
          )
        }),
      },
    })
    const balances = async () =>
      (await bed.db.pool.query(`SELECT key, total, n FROM ${schema}.balances ORDER BY key`)).rows
    const admin = createKafkaAdmin({ brokers: BROKERS })
    const runUntil = async (what: string, done: () => boolean) => {
      outcomes = []
      await consumer.start()
      await waitFor(what, done, 120_000)
    }
    try {
      await runUntil('the first build', () => outcomes.length === 60)
      expect(outcomes.every((o) => o === 'processed')).toBe(true)
      const firstBuild = await balances()
      expect(firstBuild.reduce((s, r) => s + r.n, 0)).toBe(60)

      // Lag per partition while running: a series per partition, all caught up once committed.
      await waitFor(
        'lag 0 on every partition',
        async () => {
          const text = await registry.getSingleMetricAsString('annals_kafka_consumer_lag')
          const series = text.split('\n').filter((l) => l.startsWith('annals_kafka_consumer_lag{'))
          return series.length === 3 && series.every((l) => l.includes(`group="${group}"`) && l.endsWith(' 0'))
        },
        30_000,
      )

      // A running group refuses a reset, with a typed error naming it.
      await expect(admin.resetGroupOffsets({ group, topic, to: { earliest: true } })).rejects.toMatchObject({
        code: KafkaErrorCodes.GROUP_ACTIVE,
        group,
      })
      await consumer.stop()
      await expect(
        admin.resetGroupOffsets({ group: unique('nobody'), topic, to: { earliest: true } }),
      ).rejects.toMatchObject({
        code: KafkaErrorCodes.UNKNOWN_GROUP,
      })

      // To an offset: every partition back to 2; the group's lag shows what will come again.
      const resets = await admin.resetGroupOffsets({ group, topic, to: { offset: 2 } })
      expect(resets).toHaveLength(3)
      const [info] = await admin.listGroups([group])
      expect(info).toMatchObject({ group, state: 'EMPTY', members: 0 })
      const redeliveries = Number(info?.partitions.reduce((s, p) => s + p.lag, 0n))
      expect(redeliveries).toBe(60 - resets.filter((r) => r.to >= 2n).length * 2)
      await runUntil('the replay from offset 2', () => outcomes.length === redeliveries)
      await consumer.stop()
      expect(outcomes.every((o) => o === 'duplicate')).toBe(true)
      expect(await balances()).toEqual(firstBuild)

      // To a time: exactly the second wave again.
      await admin.resetGroupOffsets({ group, topic, to: { time: between } })
      await runUntil('the replay from the time', () => outcomes.length === 30)
      await consumer.stop()
      expect(outcomes.every((o) => o === 'duplicate')).toBe(true)
      expect(await balances()).toEqual(firstBuild)

      // To earliest with the read model and the group's inbox cleared: the same read model again.
      await bed.db.pool.query(`TRUNCATE ${schema}.balances`)
      await pruneProcessedMessages({ pool: bed.db.pool, schema, consumer: group, olderThanMs: 0 })
      await admin.resetGroupOffsets({ group, topic, to: { earliest: true } })
      await runUntil('the rebuild', () => outcomes.length === 60)
      expect(outcomes.every((o) => o === 'processed')).toBe(true)
      expect(await balances()).toEqual(firstBuild)
    } finally {
      await consumer.stop()
      await admin.close()
    }
  })
})
