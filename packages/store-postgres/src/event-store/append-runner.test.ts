import { describe, expect, it } from 'vitest'
import { PgConnectionLostError } from '../errors.js'
import { codeOf, isStatementError } from './append-runner.js'

// What a server report looks like (node-postgres' and PGlite's DatabaseError both carry a severity).
const reported = (code: string, severity = 'ERROR') => Object.assign(new Error('reported'), { code, severity })

describe('codeOf', () => {
  it('gives the SQLSTATE of an error the server reported on a live session', () => {
    expect(codeOf(reported('23505'))).toBe('23505')
    expect(codeOf(reported('AN001'))).toBe('AN001')
  })

  it('gives nothing when the connection itself failed, so that no caller takes it for a rolled-back statement', () => {
    // A socket error carries Node's code, not a SQLSTATE.
    expect(codeOf(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104 }))).toBeUndefined()
    expect(codeOf(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBeUndefined()
    expect(codeOf(new PgConnectionLostError('gone'))).toBeUndefined()
    // A FATAL report (a terminated backend, a server shutting down) ends the session.
    expect(codeOf(reported('57P01', 'FATAL'))).toBeUndefined()
    expect(codeOf(new Error('Connection terminated unexpectedly'))).toBeUndefined()
    expect(codeOf('boom')).toBeUndefined()
  })
})

describe('isStatementError', () => {
  it('is true only for a statement the server rolled back on a session that goes on', () => {
    expect(isStatementError(reported('23505'))).toBe(true)
    expect(isStatementError(reported('40001'))).toBe(true)
    // Reported as ERROR, but the session is over: a connection exception, a terminated backend.
    expect(isStatementError(reported('08006'))).toBe(false)
    expect(isStatementError(reported('57P01'))).toBe(false)
    // A FATAL report of any code ends the session too (the server closes it after sending).
    expect(isStatementError(reported('XX000', 'FATAL'))).toBe(false)
    expect(isStatementError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(false)
    expect(isStatementError(undefined)).toBe(false)
  })
})
