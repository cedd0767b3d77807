import { createHash, randomUUID } from 'node:crypto'

// A fixed namespace so that the same name always maps to the same UUID, across processes and versions.
const ANNALS_NAMESPACE = Buffer.from('8b0c3c52e6a84f5b9f3a3e1d7c2b9a40', 'hex')

/** A random (v4) UUID. */
export function newId(): string {
  return randomUUID()
}

/** A name-based (v5-style, SHA-1) UUID: the same name always gives the same id. */
export function deterministicId(name: string): string {
  const hash = createHash('sha1').update(ANNALS_NAMESPACE).update(name, 'utf8').digest().subarray(0, 16)
  hash.writeUInt8((hash.readUInt8(6) & 0x0f) | 0x50, 6)
  hash.writeUInt8((hash.readUInt8(8) & 0x3f) | 0x80, 8)
  const hex = hash.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * JSON with object keys sorted, so that equal values give equal strings whatever their key order.
 * Bigints are written as `{"$bigint":"…"}` and dates as ISO strings.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalise(value))
}

function canonicalise(value: unknown): unknown {
  if (typeof value === 'bigint') return { $bigint: value.toString() }
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return value.map(canonicalise)
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key]
      if (v !== undefined) out[key] = canonicalise(v)
    }
    return out
  }
  return value
}

/** A stable SHA-256 hash (hex) of a value's canonical JSON. */
export function fingerprint(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex')
}
