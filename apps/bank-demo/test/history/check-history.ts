// The history checker's judgement, apart from the run that produced the history: what every append
// answered, what the store holds, and what each downstream view applied, compared movement by movement.

/** What an append answered: committed, refused (nothing written), or unknown (the connection died mid-append). */
export type Outcome = 'acknowledged' | 'failed' | 'indeterminate'

/** One command a writer sent, by the id it chose for the movement. */
export type Attempt = Readonly<{ uid: string; writer: number; seq: number; streamId: string; outcome: Outcome }>

/** A movement as the store holds it. */
export type StoredMovement = Readonly<{ uid: string; streamId: string; version: bigint }>

/** What went wrong in one place (the store, a read model, the consumer), with the movement ids. */
export type Findings = {
  lost: string[]
  duplicated: string[]
  reordered: string[]
  unexpected: string[]
}

const empty = (): Findings => ({ lost: [], duplicated: [], reordered: [], unexpected: [] })

/**
 * Judges the store against the answers: every acknowledged movement stored exactly once, an
 * indeterminate one at most once, a failed or unknown one never, none in another stream than sent to; each writer's movements of a stream
 * in the order it sent them (it waits for each answer before the next command).
 */
export function checkStore(attempts: readonly Attempt[], stored: readonly StoredMovement[]): Findings {
  const f = empty()
  const copies = new Map<string, number>()
  for (const m of stored) copies.set(m.uid, (copies.get(m.uid) ?? 0) + 1)
  const byUid = new Map(attempts.map((a) => [a.uid, a]))
  for (const a of attempts) {
    const n = copies.get(a.uid) ?? 0
    if (a.outcome === 'acknowledged' && n === 0) f.lost.push(a.uid)
    if (n > 1) f.duplicated.push(a.uid)
    if (a.outcome === 'failed' && n > 0) f.unexpected.push(a.uid)
  }
  for (const uid of copies.keys()) if (!byUid.has(uid)) f.unexpected.push(uid)
  const lastSeq = new Map<string, number>()
  for (const m of [...stored].sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0))) {
    const a = byUid.get(m.uid)
    if (!a) continue
    if (a.streamId !== m.streamId) {
      f.unexpected.push(`${m.streamId}:${m.uid}`)
      continue
    }
    const key = `${a.writer}/${m.streamId}`
    if ((lastSeq.get(key) ?? -1) >= a.seq) f.reordered.push(m.uid)
    lastSeq.set(key, Math.max(a.seq, lastSeq.get(key) ?? -1))
  }
  return f
}

/** The store's movements per stream, in stream-version order: what every view must equal. */
export function streamsOf(stored: readonly StoredMovement[]): Map<string, string[]> {
  const streams = new Map<string, StoredMovement[]>()
  for (const m of stored) streams.set(m.streamId, [...(streams.get(m.streamId) ?? []), m])
  return new Map(
    [...streams].map(([id, ms]) => [
      id,
      ms.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0)).map((m) => m.uid),
    ]),
  )
}

/**
 * Judges one view (a read model's or the consumer's movement ids per stream, in the order applied)
 * against the store's streams: each stored movement applied exactly once, in stream order, and nothing
 * the store does not hold.
 */
export function checkView(
  expected: ReadonlyMap<string, readonly string[]>,
  actual: ReadonlyMap<string, readonly string[]>,
): Findings {
  const f = empty()
  for (const [streamId, uids] of actual) {
    const want = expected.get(streamId) ?? []
    const index = new Map(want.map((uid, i) => [uid, i]))
    const seen = new Set<string>()
    let previous = -1
    for (const uid of uids) {
      const i = index.get(uid)
      if (i === undefined) {
        f.unexpected.push(`${streamId}:${uid}`)
        continue
      }
      if (seen.has(uid)) {
        f.duplicated.push(uid)
        continue
      }
      seen.add(uid)
      if (i < previous) f.reordered.push(uid)
      previous = Math.max(previous, i)
    }
  }
  for (const [streamId, want] of expected) {
    const got = new Set(actual.get(streamId) ?? [])
    for (const uid of want) if (!got.has(uid)) f.lost.push(uid)
  }
  return f
}

/** True when nothing was found. */
export function isClean(f: Findings): boolean {
  return f.lost.length + f.duplicated.length + f.reordered.length + f.unexpected.length === 0
}

/** A failure message naming the place and the first ids of each kind of finding. */
export function describeFindings(place: string, f: Findings, limit = 10): string {
  const part = (kind: keyof Findings) =>
    f[kind].length === 0
      ? []
      : [`${f[kind].length} ${kind} (${f[kind].slice(0, limit).join(', ')}${f[kind].length > limit ? ', …' : ''})`]
  return `${place}: ${[...part('lost'), ...part('duplicated'), ...part('reordered'), ...part('unexpected')].join('; ')}`
}
