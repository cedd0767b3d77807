import { waitFor } from '@annals/test-support'
import { ProduceAcks, Producer, stringSerializers } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { DeadLetterHeaders, deadLetterTopic, KafkaHeaders } from '../src/headers.js'
import { createKafkaAdmin } from '../src/kafka-admin.js'
import { createKafkaConsumer, type KafkaConsumeOutcome, kafkaHandler } from '../src/kafka-consumer.js'
import {
  BROKERS,
  createTopic,
  effectsOf,
  publishSteps,
  readTopic,
  setupConsumerSchema,
  unique,
  useDatabase,
} from './helpers.js'

const bed = useDatabase('dlq')

describe('dead letters', () => {
  it('a poison message is dead-lettered after maxAttempts while its partition flows on; redrive after the fix applies it once', async () => {
    const schema = 'poison'
    await setupConsumerSchema(bed.db, schema)
    const topic = unique('poison')
    const group = unique('billing')
    await createTopic(topic, 2)
    const steps = ['k1', 'k2'].flatMap((key) =>
      Array.from({ length: 10 }, (_, i) => ({ key, seq: i + 1, extra: { poison: key === 'k1' && i + 1 === 4 } })),
    )
    const ids = await publishSteps(topic, steps)
    const poisonId = ids[3]

    let fixed = false
    let poisonAttempts = 0
    const outcomes: KafkaConsumeOutcome[] = []
    const consumer = createKafkaConsumer({
      brokers: BROKERS,
      group,
      topics: [topic],
      inbox: { pool: bed.db.pool, schema },
      maxAttempts: 3,
      retryBackoff: { initialDelayMs: 10, maxDelayMs: 20 },
      maxWaitTimeMs: 100,
      onOutcome: (o) => outcomes.push(o),
      handlers: {
        Stepped: kafkaHandler(z.object({ key: z.string(), seq: z.number(), poison: z.boolean() }), async (m, tx) => {
          await tx.query(`INSERT INTO ${schema}.effects (grp, message_id, key, seq) VALUES ($1, $2, $3, $4)`, [
            group,
            m.messageId,
            m.payload.key,
            m.payload.seq,
          ])
          if (m.payload.poison && !fixed) {
            poisonAttempts++
            throw new Error('cannot bill account k1 step 4')
          }
        }),
      },
    })
    const admin = createKafkaAdmin({ brokers: BROKERS })
    await consumer.start()
    try {
      await waitFor(
        'every other message applied',
        async () => (await effectsOf(bed.db, schema, group)).length === 19,
        120_000,
      )
      expect(poisonAttempts).toBe(3)
      // The rest of k1's partition went on after the poison message, in order.
      const k1 = (await effectsOf(bed.db, schema, group)).filter((r) => r.key === 'k1').map((r) => r.seq)
      expect(k1).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 10])

      const letters = await admin.listDeadLetters({ group, topic })
      expect(letters).toHaveLength(1)
      expect(letters[0]).toMatchObject({
        topic: deadLetterTopic(topic, group),
        messageId: poisonId,
        type: 'Stepped',
        key: 'k1',
        sourceTopic: topic,
        reason: 'handler',
        attempts: 3,
      })
      expect(letters[0]?.error).toContain('cannot bill account k1 step 4')
      // Listing does not consume: still there.
      expect(await admin.listDeadLetters({ group, topic })).toHaveLength(1)

      fixed = true
      expect(await admin.redriveDeadLetters({ group, topic })).toEqual({ redriven: 1 })
      await waitFor(
        'the redriven message applied',
        async () => (await effectsOf(bed.db, schema, group)).length === 20,
        60_000,
      )
      expect(await admin.listDeadLetters({ group, topic })).toEqual([])
      expect(await admin.redriveDeadLetters({ group, topic })).toEqual({ redriven: 0 })
      const rows = await effectsOf(bed.db, schema, group)
      expect(rows.filter((r) => r.message_id === poisonId)).toHaveLength(1)
      expect(new Set(rows.map((r) => r.message_id))).toEqual(new Set(ids))
      // The redriven record carries the group it is meant for and none of the dead-letter headers.
      const redriven = (await readTopic(topic)).filter((r) => r.headers[KafkaHeaders.redriveGroup] !== undefined)
      expect(redriven).toHaveLength(1)
      expect(redriven[0]?.headers[KafkaHeaders.redriveGroup]).toBe(group)
      expect(Object.keys(redriven[0]?.headers ?? {}).some((h) => h.startsWith('annals-dlq-'))).toBe(false)
    } finally {
      await consumer.stop()
      await admin.close()
    }
    expect(outcomes.filter((o) => o === 'dead-lettered')).toHaveLength(1)
  })

  it('an invalid payload or a record that is not an Annals message is dead-lettered at once with the reason', async () => {
    const schema = 'invalid'
    await setupConsumerSchema(bed.db, schema)
    const topic = unique('invalid')
    const group = unique('audit')
    await createTopic(topic, 1)
    await publishSteps(topic, [{ key: 'k', seq: 1 }])
    const producer = new Producer({
      clientId: 'test',
      bootstrapBrokers: BROKERS.split(','),
      serializers: stringSerializers,
      acks: ProduceAcks.ALL,
    })
    await producer.send({
      messages: [
        {
          topic,
          key: 'k',
          value: JSON.stringify({ key: 'k', seq: 'two' }),
          headers: { [KafkaHeaders.messageId]: 'bad-1', [KafkaHeaders.type]: 'Stepped' },
        },
        { topic, key: 'k', value: 'not json at all' },
      ],
    })
    await producer.close()
    await publishSteps(topic, [{ key: 'k', seq: 3 }])

    let calls = 0
    const consumer = createKafkaConsumer({
      brokers: BROKERS,
      group,
      topics: [topic],
      inbox: { pool: bed.db.pool, schema },
      maxWaitTimeMs: 100,
      handlers: {
        Stepped: kafkaHandler(z.object({ key: z.string(), seq: z.number() }), async (m, tx) => {
          calls++
          await tx.query(`INSERT INTO ${schema}.effects (grp, message_id, key, seq) VALUES ($1, $2, $3, $4)`, [
            group,
            m.messageId,
            m.payload.key,
            m.payload.seq,
          ])
        }),
      },
    })
    const admin = createKafkaAdmin({ brokers: BROKERS })
    await consumer.start()
    try {
      await waitFor(
        'the valid messages applied',
        async () => (await effectsOf(bed.db, schema, group)).length === 2,
        60_000,
      )
      await waitFor(
        'two dead letters',
        async () => (await admin.listDeadLetters({ group, topic })).length === 2,
        60_000,
      )
      const letters = await admin.listDeadLetters({ group, topic })
      expect(letters.map((l) => l.reason)).toEqual(['validation', 'validation'])
      expect(letters[0]?.messageId).toBe('bad-1')
      expect(letters[0]?.error).toMatch(/seq/)
      expect(letters[0]?.headers[DeadLetterHeaders.errorCode]).toBe('ANNALS_KAFKA_ERR_INVALID_MESSAGE')
      expect(letters[1]?.error).toContain(KafkaHeaders.messageId)
      expect(letters.map((l) => l.sourceOffset)).toEqual([1n, 2n])
      expect(calls).toBe(2)
      expect((await effectsOf(bed.db, schema, group)).map((r) => r.seq)).toEqual([1, 3])
    } finally {
      await consumer.stop()
      await admin.close()
    }
  })
})
