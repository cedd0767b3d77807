import { InvalidArgumentError, type OutboxMessage, type PublishableEvent } from '@annals/core'
import { checkName, toStoredJson } from '@annals/core/runtime'
import { outboxMessageId } from '../outbox/outbox-message-id.js'
import { type PreparedAppend, UUID } from './append-input.js'

/**
 * Writes outbox rows in the append's transaction. `publish` runs before the SQL, on each event being
 * appended (final id, type, data, metadata, stream id, schema version; no positions yet). The headers
 * are built by the append function, once, with the real positions: see {@link OutboxMessage.envelope}.
 */
export type OutboxOptions = Readonly<{ publish: (event: PublishableEvent) => readonly OutboxMessage[] }>

/** @internal The outbox messages of one append as the append function's parallel arrays. */
export type OutboxRows = {
  /** 1-based index of the message's event among all events of the append. */
  event: number[]
  ids: string[]
  topics: string[]
  keys: string[]
  types: string[]
  payloads: string[]
  /** The message's own headers (JSON); the append function adds correlation and envelope headers. */
  headers: string[]
  envelope: boolean[]
}

const emptyRows = (): OutboxRows => ({
  event: [],
  ids: [],
  topics: [],
  keys: [],
  types: [],
  payloads: [],
  headers: [],
  envelope: [],
})

/** @internal No messages: shared, never written to. */
export const NO_OUTBOX_ROWS: OutboxRows = emptyRows()

/** @internal Runs `publish` on every event of the append and validates what it yields. */
export function outboxRows(prepared: readonly PreparedAppend[], publish: OutboxOptions['publish']): OutboxRows {
  const rows = emptyRows()
  let eventIndex = 0
  for (const p of prepared) {
    p.events.forEach((event, i) => {
      eventIndex++
      const eventId = p.ids[i] as string
      const messages = publish({
        type: event.type,
        data: event.data,
        eventId,
        streamId: p.streamId,
        schemaVersion: p.schemaVersions[i] as number,
        metadata: p.metadataObjects[i] as PublishableEvent['metadata'],
      })
      messages.forEach((message, m) => {
        const path = ['outbox', eventId, m]
        checkName(message.topic, 'outbox message', [...path, 'topic'])
        rows.event.push(eventIndex)
        const messageId = message.messageId ?? outboxMessageId(eventId, m, messages.length)
        if (typeof messageId !== 'string' || !UUID.test(messageId)) {
          throw new InvalidArgumentError('messageId', `"${messageId}" is not a UUID`)
        }
        rows.ids.push(messageId)
        rows.topics.push(message.topic)
        rows.keys.push(checkName(message.partitionKey ?? p.streamId, 'outbox message', [...path, 'partitionKey']))
        rows.types.push(checkName(message.type ?? event.type, 'outbox message', [...path, 'type']))
        const payload = message.payload === undefined ? (event.data ?? null) : message.payload
        rows.payloads.push(toStoredJson(payload, 'outbox message', [...path, 'payload']))
        rows.headers.push(toStoredJson(message.headers ?? {}, 'outbox message', [...path, 'headers']))
        rows.envelope.push(message.envelope === true)
      })
    })
  }
  return rows
}

/** @internal The outbox rows of appends sharing one statement (group commit), event indexes shifted. */
export function concatOutboxRows(parts: readonly Readonly<{ prepared: PreparedAppend; ob: OutboxRows }>[]): OutboxRows {
  const rows = emptyRows()
  let offset = 0
  for (const { prepared, ob } of parts) {
    rows.event.push(...ob.event.map((e) => e + offset))
    rows.ids.push(...ob.ids)
    rows.topics.push(...ob.topics)
    rows.keys.push(...ob.keys)
    rows.types.push(...ob.types)
    rows.payloads.push(...ob.payloads)
    rows.headers.push(...ob.headers)
    rows.envelope.push(...ob.envelope)
    offset += prepared.events.length
  }
  return rows
}
