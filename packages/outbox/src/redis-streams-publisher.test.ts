import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { OutboxErrorCodes } from './errors.js'
import { createRedisStreamsPublisher, type StreamMaxLen } from './redis-streams-publisher.js'

/** The arguments of each command the publisher queued, from a client that records instead of sending. */
async function xaddArguments(maxLen?: StreamMaxLen): Promise<string[][]> {
  const calls: string[][] = []
  const redis = {
    pipeline: () => ({
      call: (...args: string[]) => {
        calls.push(args)
      },
      exec: async () => calls.map(() => [null, '1-0']),
    }),
  } as unknown as Redis
  const publisher = createRedisStreamsPublisher({ redis, keyPrefix: 'p', ...(maxLen === undefined ? {} : { maxLen }) })
  await publisher.publish([{ messageId: 'm', topic: 't', partitionKey: 'k', type: 'X', payload: {}, headers: {} }])
  return calls.map((args) => args.slice(0, 6))
}

describe('Redis Streams publisher options', () => {
  it('trims each stream to about a million entries unless told otherwise', async () => {
    expect(await xaddArguments()).toEqual([['XADD', 'p:t', 'MAXLEN', '~', '1000000', '*']])
  })

  it('trims to the given bound, or never with maxLen: "unbounded"', async () => {
    expect(await xaddArguments(50)).toEqual([['XADD', 'p:t', 'MAXLEN', '~', '50', '*']])
    expect((await xaddArguments('unbounded'))[0]?.slice(0, 3)).toEqual(['XADD', 'p:t', '*'])
  })

  it('rejects a bound that is not a positive integer with the option error', async () => {
    for (const maxLen of [0, -1, 1.5]) {
      await expect(xaddArguments(maxLen)).rejects.toMatchObject({
        code: OutboxErrorCodes.INVALID_OPTION,
        option: 'maxLen',
      })
    }
  })
})
