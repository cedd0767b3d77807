import { type SpawnedProcess, waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createKafkaConsumer, kafkaHandler } from '../src/kafka-consumer.js'
import {
  BROKERS,
  createTopic,
  effectsOf,
  publishSteps,
  setupConsumerSchema,
  spawnWorker,
  unique,
  useDatabase,
} from './helpers.js'

const bed = useDatabase('groups')

const steps = (keys: number, from: number, to: number) =>
  Array.from({ length: keys }, (_, k) =>
    Array.from({ length: to - from + 1 }, (_, i) => ({ key: `acct-${k}`, seq: from + i })),
  ).flat()

/** The partitions a worker said it holds last. */
const heldBy = (w: SpawnedProcess): number[] => {
  const last = [...w.lines].reverse().find((l) => l.startsWith('ASSIGNED'))
  const list = last?.slice('ASSIGNED'.length).trim() ?? ''
  return list === '' ? [] : list.split(',').map(Number)
}

describe('consumer groups', () => {
  it('two groups each get every message; three processes share a group, one SIGKILLed mid-batch, a fourth joins: nothing lost, one effect each', async () => {
    const schema = 'groups'
    await setupConsumerSchema(bed.db, schema)
    const topic = unique('groups')
    const groupA = unique('ga')
    const groupB = unique('gb')
    await createTopic(topic, 6)
    const first = await publishSteps(topic, steps(10, 1, 30))

    const env = {
      DATABASE_URL: bed.db.connectionString,
      SCHEMA: schema,
      TOPIC: topic,
      GROUP: groupA,
      HANDLE_DELAY_MS: '10',
    }
    const members = [0, 1, 2].map((i) => spawnWorker('consumer-worker.ts', { ...env, WORKER: `a${i}` }))
    const late = spawnWorker('consumer-worker.ts', { ...env, WORKER: 'a3', WAIT_FOR_GO: '1' })

    // Group B in this process: it must see every message too, unaffected by A's crash and rebalances.
    const b = createKafkaConsumer({
      brokers: BROKERS,
      group: groupB,
      topics: [topic],
      inbox: { pool: bed.db.pool, schema },
      maxWaitTimeMs: 100,
      handlers: {
        Stepped: kafkaHandler(z.object({ key: z.string(), seq: z.number() }), async (m, tx) => {
          await tx.query(
            `INSERT INTO ${schema}.effects (grp, message_id, key, seq, worker) VALUES ($1, $2, $3, $4, 'b')`,
            [groupB, m.messageId, m.payload.key, m.payload.seq],
          )
        }),
      },
    })
    await b.start()
    try {
      await waitFor(
        'three members sharing the six partitions',
        () => {
          const held = members.map(heldBy)
          return held.every((h) => h.length > 0) && new Set(held.flat()).size === 6 && held.flat().length === 6
        },
        180_000,
      ).catch((error: unknown) => {
        throw new Error(
          `${String(error)}: ${members.map((m) => `${m.lines.slice(-3).join('|')} ${m.stderr().slice(-300)}`).join(' / ')}`,
        )
      })
      await waitFor('group A under way', async () => (await effectsOf(bed.db, schema, groupA)).length >= 30, 120_000)
      const victim = members[0]
      if (!victim) throw new Error('no member')
      const victimHeld = heldBy(victim)
      await victim.kill()
      expect(victim.child.signalCode).toBe('SIGKILL')
      const second = await publishSteps(topic, steps(10, 31, 60))

      // The victim's partitions move to the two survivors once its session expires.
      await waitFor(
        'the victim partitions taken over',
        () => {
          const held = [members[1], members[2]].flatMap((m) => (m ? heldBy(m) : []))
          return victimHeld.every((p) => held.includes(p)) && new Set(held).size === 6
        },
        120_000,
      )
      await waitFor('group A half way', async () => (await effectsOf(bed.db, schema, groupA)).length >= 350, 120_000)
      late.child.kill('SIGUSR2')
      await waitFor('the fourth member holding partitions', () => heldBy(late).length > 0, 120_000)

      const all = new Set([...first, ...second])
      await waitFor(
        'group A and group B done',
        async () =>
          (await effectsOf(bed.db, schema, groupA)).length >= all.size &&
          (await effectsOf(bed.db, schema, groupB)).length >= all.size,
        180_000,
      ).catch(async (error: unknown) => {
        const a = await effectsOf(bed.db, schema, groupA)
        const bRows = await effectsOf(bed.db, schema, groupB)
        const missing = [...all].filter((id) => !a.some((r) => r.message_id === id)).length
        throw new Error(
          `${String(error)}: A ${a.length} (missing ${missing}), B ${bRows.length}; members ${[...members, late]
            .map((m) => `${m.lines.slice(-2).join('|')} ${m.stderr().slice(-300)}`)
            .join(' / ')}`,
        )
      })
      const a = await effectsOf(bed.db, schema, groupA)
      const bRows = await effectsOf(bed.db, schema, groupB)
      for (const rows of [a, bRows]) {
        expect(rows).toHaveLength(all.size)
        expect(new Set(rows.map((r) => r.message_id))).toEqual(all)
      }
      // The work was shared: every member of A applied some of it, the killed one before it died.
      const workers = new Set(a.map((r) => r.worker))
      for (const w of ['a0', 'a1', 'a2']) expect(workers.has(w)).toBe(true)
      expect(heldBy(late).length).toBeGreaterThan(0)
    } finally {
      await b.stop()
      await Promise.all([...members, late].map((m) => m.kill()))
    }
  }, 600_000)
})
