import { defineEvent } from '@annals/core'
import { waitFor } from '@annals/test-support'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createProjectionAdmin } from '../src/admin.js'
import { defineProjection } from '../src/projection.js'
import { createRedisReadModel, createRedisSink } from '../src/sinks/redis-sink.js'
import { useProjectionsTestBed } from './helpers.js'

// Issue 16: an event this code cannot decode (a schema version newer than its definition, data its
// schema refuses) is parked as a dead letter with the typed error; the projection's other streams flow on.
const bed = useProjectionsTestBed('all')

const Pinged = defineEvent('Pinged', z.object({ n: z.number().int() }))

describe('an event the projection cannot decode', () => {
  it('is parked with its typed error (UnsupportedSchemaVersionError, ValidationError); the rest is applied', async () => {
    const projection = () =>
      defineProjection({
        name: 'decoding',
        version: 1,
        handles: [Pinged],
        sink: createRedisSink({ redis: bed.r.redis, keyPrefix: bed.r.keyPrefix }),
        handlers: { Pinged: (e, w) => w.incrby(e.streamId, e.data.n) },
      })
    const runner = bed.runner({ projections: [projection()], retry: { maxAttempts: 2, initialDelayMs: 1 } })
    const rm = createRedisReadModel(bed.r.redis, projection())
    await runner.start()
    try {
      // Written by newer code (schema version 7) and by code with another shape: this one knows neither.
      await bed.store.appendToStream('newer', [{ type: 'Pinged', data: { n: 1, extra: true }, schemaVersion: 7 }])
      await bed.store.appendToStream('misshapen', [{ type: 'Pinged', data: { n: 'one' } }])
      await bed.store.appendToStream('fine', [{ type: 'Pinged', data: { n: 3 } }])
      await waitFor('the fine stream applied', async () => (await rm.get('fine')) === '3')
      const letters = await waitFor('both parked', async () => {
        const list = await createProjectionAdmin({ pool: bed.db.pool }).listDeadLetters({ projection: 'decoding' })
        return list.length === 2 ? list : null
      })
      const byStream = new Map(letters.map((l) => [l.streamId, l]))
      expect(byStream.get('newer')).toMatchObject({ reason: 'failed', status: 'parked', eventType: 'Pinged' })
      // The typed error's class leads its stack; its message names the version and the stream.
      expect(byStream.get('newer')?.stack).toMatch(/^UnsupportedSchemaVersionError: /)
      expect(byStream.get('newer')?.error).toBe(
        'Event "Pinged" has schema version 7 but this code knows versions 1..1 (stream "newer" version 1)',
      )
      expect(byStream.get('misshapen')?.stack).toMatch(/^ValidationError: /)
      expect(byStream.get('misshapen')?.error).toBe(
        'Invalid event "Pinged" v1 (stream "misshapen" version 1): n: Invalid input: expected number, received string',
      )
      expect(await rm.get('newer')).toBeNull()
      expect(await rm.get('misshapen')).toBeNull()
    } finally {
      await runner.stop()
    }
  })
})
