import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto'
import { InvalidArgumentError, MasterKeyMismatchError, PersonalDataUnreadableError } from '../errors.js'
import type { Event, NewEvent, RecordedEvent, StreamId } from '../event.js'
import type { AnyEventDefinition } from '../event-definition.js'
import type { AppendResult, EventStore, ReadAllOptions, ReadStreamOptions, StreamAppend } from '../event-store.js'
import { personalPaths, REDACTED } from './redacted.js'

/**
 * The application's master key (environment, KMS, HSM): it wraps and unwraps the per-subject data
 * keys, which are stored wrapped only. `unwrap` must throw `MasterKeyMismatchError` for a key it did not wrap.
 */
export interface MasterKey {
  /** Encrypts a 32-byte data key for storage. */
  wrap(dataKey: Uint8Array): Promise<string>
  /** Decrypts a wrapped data key; a wrong master key is `ANNALS_ERR_MASTER_KEY_MISMATCH`, never garbage. */
  unwrap(wrapped: string): Promise<Uint8Array>
}

/** A subject's data key as stored: its id (named in every ciphertext) and the key wrapped by the master key. */
export type StoredDataKey = Readonly<{ keyId: string; wrapped: string }>

/** Where the per-subject data keys live (`createPostgresDataKeys`, or {@link createInMemoryDataKeys}). */
export interface DataKeyStore {
  /** The subject's key; when it has none, `candidate` is stored and returned (concurrent callers agree on one). */
  keyFor(subject: string, candidate: StoredDataKey): Promise<StoredDataKey>
  /** The wrapped keys still held among `keyIds` (a forgotten subject's is absent). */
  load(keyIds: readonly string[]): Promise<ReadonlyMap<string, string>>
  /** Deletes the subject's key for good; true when it had one. */
  forget(subject: string): Promise<boolean>
}

const ALGORITHM = 'aes-256-gcm'
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')

function seal(key: Uint8Array, plaintext: Buffer, aad: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv(ALGORITHM, key, iv)
  cipher.setAAD(Buffer.from(aad))
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return `${b64(iv)}.${b64(cipher.getAuthTag())}.${b64(ct)}`
}

/** Throws when the tag does not match (wrong key, altered text). */
function open(key: Uint8Array, sealed: string, aad: string): Buffer {
  const [iv, tag, ct] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'))
  if (!iv || !tag || !ct) throw new Error('malformed ciphertext')
  const decipher = createDecipheriv(ALGORITHM, key, iv)
  decipher.setAAD(Buffer.from(aad))
  decipher.setAuthTag(tag)
  return Buffer.concat([decipher.update(ct), decipher.final()])
}

/**
 * A master key held by the process (32 bytes, or their base64 as an environment variable holds them),
 * wrapping data keys with AES-256-GCM. `keyId` names it in each wrapped key so a rotation can tell them apart.
 * @example const masterKey = createLocalMasterKey(process.env.ANNALS_MASTER_KEY ?? '')
 */
export function createLocalMasterKey(key: Uint8Array | string, keyId = 'local'): MasterKey {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'base64') : Buffer.from(key)
  if (bytes.length !== 32) throw new InvalidArgumentError('master key', 'must be 32 bytes (base64 of 32 bytes)')
  return {
    async wrap(dataKey) {
      return `${keyId}.${seal(bytes, Buffer.from(dataKey), keyId)}`
    },
    async unwrap(wrapped) {
      const dot = wrapped.indexOf('.')
      try {
        return open(bytes, wrapped.slice(dot + 1), wrapped.slice(0, dot))
      } catch (cause) {
        throw new MasterKeyMismatchError(wrapped.slice(0, dot), { cause })
      }
    },
  }
}

/** Data keys in memory (tests, the in-memory store): forgetting deletes the entry. */
export function createInMemoryDataKeys(): DataKeyStore {
  const bySubject = new Map<string, StoredDataKey>()
  return {
    async keyFor(subject, candidate) {
      const held = bySubject.get(subject)
      if (held) return held
      bySubject.set(subject, candidate)
      return candidate
    },
    async load(keyIds) {
      const wanted = new Set(keyIds)
      return new Map([...bySubject.values()].filter((k) => wanted.has(k.keyId)).map((k) => [k.keyId, k.wrapped]))
    },
    async forget(subject) {
      return bySubject.delete(subject)
    },
  }
}

/** Options of {@link createCryptoShreddingStore}. */
export type CryptoShreddingStoreOptions = Readonly<{
  /** The store the events go to (a tenant's handle for a multi-tenant store). */
  store: EventStore
  dataKeys: DataKeyStore
  masterKey: MasterKey
  /** The event definitions whose `personal()` fields are encrypted; events of other types pass as they are. */
  events: readonly AnyEventDefinition[]
  /** The person an event's personal fields are about (a customer id); required for events that have any. */
  subjectOf: (event: NewEvent, streamId: StreamId) => string | undefined
}>

/** An event store that encrypts personal fields per subject, and can forget a subject. */
export interface CryptoShreddingStore extends EventStore {
  /**
   * Deletes the subject's data key: its personal fields, in every event, outbox row and copy of the
   * ciphertext, can no longer be read and load as `REDACTED`. Irreversible. True when the subject had a key.
   */
  forget(subject: string): Promise<boolean>
}

// A personal field's stored form: the data key's id (not the subject, which may itself be personal) and
// the sealed JSON of the value.
const PREFIX = 'annals:pii:v1:'

type Path = readonly string[]

function getAt(data: unknown, path: Path): unknown {
  let at = data
  for (const key of path) {
    if (typeof at !== 'object' || at === null) return undefined
    at = (at as Record<string, unknown>)[key]
  }
  return at
}

function setAt(data: unknown, path: Path, value: unknown): unknown {
  const [key, ...rest] = path
  if (key === undefined) return value
  if (typeof data !== 'object' || data === null) return data
  const record = data as Record<string, unknown>
  if (!(key in record)) return data
  return { ...record, [key]: setAt(record[key], rest, value) }
}

/** Replaces every sealed string anywhere in `value` (so old schema versions and moved fields decrypt too). */
function mapSealed(value: unknown, replace: (sealed: string) => unknown): unknown {
  if (typeof value === 'string') return value.startsWith(PREFIX) ? replace(value) : value
  if (Array.isArray(value)) return value.map((v) => mapSealed(v, replace))
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapSealed(v, replace)]))
  }
  return value
}

function keyIdOf(sealed: string): string {
  return sealed.slice(PREFIX.length, sealed.indexOf(':', PREFIX.length))
}

/**
 * Wraps an event store with crypto-shredding: at append, the `personal()` fields of the given event
 * definitions are encrypted (AES-256-GCM, `node:crypto`) with their subject's data key, created on
 * first use and stored wrapped by the master key; reads decrypt them; after `forget(subject)` they read
 * as `REDACTED`. The store below (and its outbox rows) only ever sees ciphertext. Keys are not cached,
 * so a forget in any process takes effect at once everywhere.
 */
export function createCryptoShreddingStore(options: CryptoShreddingStoreOptions): CryptoShreddingStore {
  const { store, dataKeys, masterKey, subjectOf } = options
  const paths = new Map<string, Path[]>()
  for (const definition of options.events) {
    const found = personalPaths(definition.schema)
    if (found.length > 0) paths.set(definition.type, found)
  }

  async function dataKeyOf(subject: string): Promise<{ keyId: string; key: Uint8Array }> {
    const key = randomBytes(32)
    const candidate = { keyId: randomUUID(), wrapped: await masterKey.wrap(key) }
    const held = await dataKeys.keyFor(subject, candidate)
    return { keyId: held.keyId, key: held.keyId === candidate.keyId ? key : await masterKey.unwrap(held.wrapped) }
  }

  async function encrypt<N extends NewEvent>(streamId: StreamId, events: readonly N[]): Promise<N[]> {
    const keys = new Map<string, Promise<{ keyId: string; key: Uint8Array }>>()
    return Promise.all(
      events.map(async (event) => {
        const fields = paths.get(event.type)?.filter((path) => getAt(event.data, path) !== undefined) ?? []
        if (fields.length === 0) return event
        const subject = subjectOf(event, streamId)
        if (typeof subject !== 'string' || subject === '') {
          throw new InvalidArgumentError('subjectOf', `event "${event.type}" has personal fields but no subject`)
        }
        let pending = keys.get(subject)
        if (!pending) {
          pending = dataKeyOf(subject)
          keys.set(subject, pending)
        }
        const { keyId, key } = await pending
        let data = event.data
        for (const path of fields) {
          const sealed = seal(key, Buffer.from(JSON.stringify(getAt(data, path))), keyId)
          data = setAt(data, path, `${PREFIX}${keyId}:${sealed}`)
        }
        return { ...event, data } as N
      }),
    )
  }

  async function decrypt<E extends Event>(events: readonly RecordedEvent<E>[]): Promise<RecordedEvent<E>[]> {
    const ids = new Set<string>()
    for (const event of events) mapSealed(event.data, (sealed) => ids.add(keyIdOf(sealed)))
    if (ids.size === 0) return [...events]
    const wrapped = await dataKeys.load([...ids])
    const keys = new Map<string, Uint8Array>()
    for (const [keyId, w] of wrapped) keys.set(keyId, await masterKey.unwrap(w))
    return events.map((event) => {
      const data = mapSealed(event.data, (sealed) => {
        const keyId = keyIdOf(sealed)
        const key = keys.get(keyId)
        if (!key) return REDACTED
        try {
          return JSON.parse(open(key, sealed.slice(PREFIX.length + keyId.length + 1), keyId).toString()) as unknown
        } catch (cause) {
          throw new PersonalDataUnreadableError(event.eventId, { cause })
        }
      })
      return { ...event, data } as RecordedEvent<E>
    })
  }

  // The append's answer carries what was stored: give the caller back the plaintext it sent (or, for a
  // re-send answered with the stored events, decrypt those).
  async function withPlaintext<E extends Event>(
    result: AppendResult<E>,
    sent: readonly NewEvent[],
  ): Promise<AppendResult<E>> {
    if (result.duplicate || result.events.length !== sent.length) {
      return { ...result, events: await decrypt(result.events) }
    }
    return { ...result, events: result.events.map((e, i) => ({ ...e, data: sent[i]?.data }) as RecordedEvent<E>) }
  }

  return {
    async readStream<E extends Event = Event>(streamId: StreamId, readOptions?: ReadStreamOptions) {
      const result = await store.readStream<E>(streamId, readOptions)
      return { ...result, events: await decrypt(result.events) }
    },
    async readAll<E extends Event = Event>(readOptions?: ReadAllOptions) {
      const result = await store.readAll<E>(readOptions)
      return { ...result, events: await decrypt(result.events) }
    },
    async appendToStream(streamId, events, appendOptions) {
      const result = await store.appendToStream(streamId, await encrypt(streamId, events), appendOptions)
      return withPlaintext(result, events as readonly NewEvent[])
    },
    async importToStream(streamId, events, appendOptions) {
      const result = await store.importToStream(streamId, await encrypt(streamId, events), appendOptions)
      return withPlaintext(result, events as readonly NewEvent[])
    },
    async appendToStreams(appends: readonly StreamAppend[]) {
      const sealed = await Promise.all(
        appends.map(async (a) => ({ ...a, events: await encrypt(a.streamId, a.events) })),
      )
      const results = await store.appendToStreams(sealed)
      return Promise.all(results.map((result, i) => withPlaintext(result, appends[i]?.events ?? [])))
    },
    forget(subject) {
      return dataKeys.forget(subject)
    },
  }
}
