import { describe, expect, it } from 'vitest'
import { assignPartitions, fnv1a32, partitionOf } from './partition-of.js'

describe('partitionOf', () => {
  it('is FNV-1a 32-bit over UTF-8 (the published vectors), modulo the count', () => {
    // Vectors from the FNV reference (draft-eastlake-fnv): any change here moves streams between partitions.
    expect(fnv1a32('')).toBe(0x811c9dc5)
    expect(fnv1a32('a')).toBe(0xe40c292c)
    expect(fnv1a32('foobar')).toBe(0xbf9cf968)
    expect(fnv1a32('été')).toBe(0xffb58817)
    expect(partitionOf('account-1', 16)).toBe(6)
    expect(partitionOf('stream-42', 16)).toBe(2)
    expect(partitionOf('a', 1)).toBe(0)
  })

  it('spreads streams over every partition', () => {
    const seen = new Set<number>()
    for (let i = 0; i < 1000; i++) seen.add(partitionOf(`s-${i}`, 16))
    expect(seen.size).toBe(16)
  })
})

describe('assignPartitions', () => {
  const shares = (count: number, members: string[]) => members.map((m) => assignPartitions(count, members, m))

  it('gives every partition to exactly one member, at most ⌈N / members⌉ each', () => {
    for (const members of [
      ['a'],
      ['a', 'b'],
      ['w1', 'w2', 'w3'],
      ['w1', 'w2', 'w3', 'w4'],
      ['x', 'y', 'z', 'q', 'r'],
    ]) {
      const all = shares(16, members)
      expect(all.flat().sort((x, y) => x - y)).toEqual([...Array(16).keys()])
      for (const mine of all) expect(mine.length).toBeLessThanOrEqual(Math.ceil(16 / members.length))
    }
    expect(
      shares(16, ['w1', 'w2', 'w3'])
        .map((m) => m.length)
        .sort(),
    ).toEqual([5, 5, 6])
    expect(shares(16, ['w1', 'w2', 'w3', 'w4']).map((m) => m.length)).toEqual([4, 4, 4, 4])
  })

  it('is the same in every member whatever the order of the list, and empty for a non-member', () => {
    expect(assignPartitions(16, ['b', 'a', 'c'], 'a')).toEqual(assignPartitions(16, ['c', 'a', 'b'], 'a'))
    expect(assignPartitions(16, ['a', 'b'], 'z')).toEqual([])
  })
})
