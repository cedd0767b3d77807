/**
 * The partition of a stream in a projection of `count` partitions: FNV-1a (32-bit) over the stream
 * id's UTF-8 bytes, modulo `count`. Part of the stored format: a stream must land in the same
 * partition in every release and every process (its checkpoint and order live there), so this never
 * changes; the tests pin it to fixed vectors.
 * @example partitionOf('account-1', 16) // 6
 */
export function partitionOf(streamId: string, count: number): number {
  return fnv1a32(streamId) % count
}

const encoder = new TextEncoder()

/** @internal FNV-1a, 32-bit: offset basis 2166136261, prime 16777619, over UTF-8 bytes. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5
  for (const byte of encoder.encode(text)) {
    hash ^= byte
    // Multiply by the FNV prime modulo 2^32 (Math.imul keeps it in 32 bits).
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/**
 * @internal Which partitions `member` should own among `members` (the live workers of the group),
 * by rendezvous hashing with bounded loads: partitions are taken in order and each goes to the
 * highest-scoring member that still has room; the first `count % members` members (sorted by id)
 * have room for ⌈count / members⌉, the rest for ⌊count / members⌋. Every member computes the same
 * answer from the same list, a member joining or leaving moves few partitions, and no member holds
 * more than ⌈count / members⌉.
 */
export function assignPartitions(count: number, members: readonly string[], member: string): number[] {
  const sorted = [...new Set(members)].sort()
  if (!sorted.includes(member)) return []
  const base = Math.floor(count / sorted.length)
  const extra = count % sorted.length
  const room = new Map(sorted.map((m, i) => [m, base + (i < extra ? 1 : 0)]))
  const mine: number[] = []
  for (let partition = 0; partition < count; partition++) {
    let best: string | null = null
    let bestScore = -1
    for (const m of sorted) {
      if ((room.get(m) ?? 0) === 0) continue
      const score = fnv1a32(`${m}#${partition}`)
      if (score > bestScore || (score === bestScore && best !== null && m < best)) {
        best = m
        bestScore = score
      }
    }
    if (best === null) continue
    room.set(best, (room.get(best) ?? 0) - 1)
    if (best === member) mine.push(partition)
  }
  return mine
}
