import {
  ConcurrencyError,
  DuplicateEventIdError,
  type ExpectedVersion,
  type StreamId,
  TimeTravelBackwardsError,
  ValidationError,
} from '@annals/core'
import { PgNotMigratedError } from './errors.js'

type PgErrorLike = { code?: string; message?: string; detail?: string; constraint?: string }

/** What the append was about, so a database error can be told in the caller's terms. */
export type AppendContext = Readonly<{
  schema: string
  streams: readonly StreamId[]
  expected: readonly ExpectedVersion[]
  /** First event's recordedAt per stream, for imports. */
  importedAt?: readonly (Date | undefined)[]
}>

/** @internal SQLSTATEs raised by the append function (a class Postgres itself does not use). */
export const APPEND_SQLSTATE = { concurrency: 'AN001', duplicateEventId: 'AN002', timeBackwards: 'AN003' } as const

function isPgError(error: unknown): error is PgErrorLike {
  return typeof error === 'object' && error !== null && ('code' in error || 'message' in error)
}

/**
 * Translates a driver error raised by the store's SQL into the error the port promises: version
 * conflicts become `ConcurrencyError`, re-used event ids `DuplicateEventIdError`, and so on. Errors it
 * does not recognise are returned unchanged.
 */
export function mapPgError(error: unknown, context?: AppendContext): unknown {
  if (!isPgError(error)) return error
  const message = error.message ?? ''
  const detail = error.detail ?? ''
  const streamAt = (indexText: string | undefined) => {
    const index = Number(indexText) - 1
    return { index, streamId: context?.streams[index] ?? '(unknown)' }
  }
  // The append function's own SQLSTATEs (see migrations.ts); the message is the fallback for a
  // function installed by an earlier version that raised P0001.
  const is = (sqlState: string, name: string) => error.code === sqlState || (error.code === 'P0001' && message === name)
  if (is(APPEND_SQLSTATE.concurrency, 'ANNALS_CONCURRENCY') && context) {
    const [index, actual] = detail.split('|')
    const at = streamAt(index)
    return new ConcurrencyError(at.streamId, context.expected[at.index] ?? 'any', BigInt(actual ?? '0'), {
      cause: error,
    })
  }
  if (is(APPEND_SQLSTATE.duplicateEventId, 'ANNALS_DUPLICATE_EVENT_ID')) {
    const [index, eventId, ...reason] = detail.split('|')
    return new DuplicateEventIdError(eventId ?? '', streamAt(index).streamId, reason.join('|'))
  }
  if (is(APPEND_SQLSTATE.timeBackwards, 'ANNALS_TIME_BACKWARDS') && context) {
    const [index, lastMs] = detail.split('|')
    const at = streamAt(index)
    return new TimeTravelBackwardsError(
      at.streamId,
      context.importedAt?.[at.index] ?? new Date(Number.NaN),
      new Date(Number(lastMs)),
    )
  }
  switch (error.code) {
    case '23505': {
      // The stream row lock makes these unreachable in normal operation; they are the backstop for
      // writers that bypass the append function.
      if (error.constraint?.endsWith('events_event_id_key') || detail.includes('(event_id)')) {
        const eventId = /=\(([^)]*)\)/.exec(detail)?.[1] ?? ''
        return new DuplicateEventIdError(eventId, context?.streams[0] ?? '(unknown)', 'a concurrent append stored it')
      }
      if (error.constraint?.endsWith('events_stream_version_key') || detail.includes('(stream_id, stream_version)')) {
        return new ConcurrencyError(context?.streams[0] ?? '(unknown)', context?.expected[0] ?? 'any', -1n, {
          cause: error,
        })
      }
      return error
    }
    case '22P05':
    case '22021':
      return new ValidationError('event', [{ path: [], message: `Postgres rejected the text: ${message}` }])
    case '42P01':
    case '42883':
    case '3F000':
      return new PgNotMigratedError(context?.schema ?? '(unknown)', { cause: error })
    default:
      return error
  }
}
