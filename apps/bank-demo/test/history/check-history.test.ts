import { describe, expect, it } from 'vitest'
import { type Attempt, checkStore, checkView, isClean, type StoredMovement, streamsOf } from './check-history.js'

const attempt = (uid: string, outcome: Attempt['outcome'], seq: number, writer = 1, streamId = 's'): Attempt => ({
  uid,
  writer,
  seq,
  streamId,
  outcome,
})
const stored = (uid: string, version: number, streamId = 's'): StoredMovement => ({
  uid,
  streamId,
  version: BigInt(version),
})

describe('the history checker judges', () => {
  it('a clean history as clean: acknowledged once, indeterminate absent or once, failed absent', () => {
    const attempts = [attempt('a', 'acknowledged', 1), attempt('b', 'indeterminate', 2), attempt('c', 'failed', 3)]
    expect(isClean(checkStore(attempts, [stored('a', 1), stored('b', 2)]))).toBe(true)
    expect(isClean(checkStore(attempts, [stored('a', 1)]))).toBe(true)
  })

  it('an acknowledged movement missing from the store as lost, one stored twice as duplicated', () => {
    const attempts = [attempt('a', 'acknowledged', 1), attempt('b', 'indeterminate', 2)]
    const f = checkStore(attempts, [stored('b', 1), stored('b', 2)])
    expect(f.lost).toEqual(['a'])
    expect(f.duplicated).toEqual(['b'])
  })

  it('a failed or never-sent movement in the store as unexpected', () => {
    const f = checkStore([attempt('c', 'failed', 1)], [stored('c', 1), stored('z', 2)])
    expect(f.unexpected).toEqual(['c', 'z'])
    expect(checkStore([attempt('a', 'acknowledged', 1)], [stored('a', 1, 'elsewhere')]).unexpected).toEqual([
      'elsewhere:a',
    ])
  })

  it("a writer's movements stored against its sending order as reordered", () => {
    const attempts = [attempt('a', 'acknowledged', 1), attempt('b', 'acknowledged', 2)]
    expect(checkStore(attempts, [stored('b', 1), stored('a', 2)]).reordered).toEqual(['a'])
  })

  it('a view against the store: lost, duplicated, reordered and unexpected movements', () => {
    const expected = streamsOf([stored('b', 2), stored('a', 1), stored('c', 3), stored('x', 1, 't')])
    expect(expected.get('s')).toEqual(['a', 'b', 'c'])
    expect(
      isClean(
        checkView(
          expected,
          new Map([
            ['s', ['a', 'b', 'c']],
            ['t', ['x']],
          ]),
        ),
      ),
    ).toBe(true)
    const f = checkView(
      expected,
      new Map([
        ['s', ['b', 'a', 'b', 'q']],
        ['t', []],
      ]),
    )
    expect(f).toEqual({ lost: ['c', 'x'], duplicated: ['b'], reordered: ['a'], unexpected: ['s:q'] })
  })
})
