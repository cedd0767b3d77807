import type { RecordedEvent } from '@annals/core'
import { readModelSinkContract } from '@annals/projections/testing'
import { pino } from 'pino'
import { afterAll, beforeAll } from 'vitest'
import { createTestEngine } from '../test/support.js'
import { createElasticsearchSink } from './sink/create-elasticsearch-sink.js'

type KeyValue = { value: string }

let engine: Awaited<ReturnType<typeof createTestEngine>>
let harnesses = 0

beforeAll(async () => {
  engine = await createTestEngine()
})
afterAll(async () => {
  await engine?.cleanup()
})

// The search sink is not transactional: it meets the same contract with external versions on the
// documents, the checkpoint and fencing token in a state document compare-and-set by sequence number,
// and replayed dead-letter ids recorded with the checkpoint.
readModelSinkContract('search sink (real engine)', async () => {
  const projection = `contract-${++harnesses}`
  const sink = createElasticsearchSink<KeyValue>({
    client: engine.client,
    indexPrefix: engine.indexPrefix,
    logger: pino({ level: 'silent' }),
    mappings: { properties: { value: { type: 'keyword' } } },
    dropGraceMs: 0,
  })
  // Every write as of a later event than the one before, as the log delivers them.
  let position = 0n
  const event = (key: string): RecordedEvent => {
    position++
    return {
      type: 'ValueSet',
      data: {},
      eventId: `${projection}-${position}`,
      streamId: key,
      streamVersion: position,
      globalPosition: position,
      transactionId: position,
      schemaVersion: 1,
      metadata: {},
      recordedAt: new Date(),
    }
  }
  const valueIn = async (index: string, key: string): Promise<string | null> => {
    const found = await engine.client.get<KeyValue>({ index, id: key }, { ignore: [404] })
    return found.found ? (found._source?.value ?? null) : null
  }
  let deadLetters = 0n
  return {
    sink,
    projection,
    schema: 'annals',
    // The sink keeps the fencing token in its own state document: `fence` is all it needs.
    grantLease: async () => {},
    parkDeadLetters: async (_generation, count) => Array.from({ length: count }, () => ++deadLetters),
    write: (ctx, key, value) => ctx.index(event(key), key, { value }),
    read: (generation, key) => valueIn(sink.indexOf(projection, generation), key),
    readLive: (key) => valueIn(sink.aliasOf(projection), key),
  }
})
