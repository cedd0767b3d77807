import { readFileSync } from 'node:fs'
import { AnnalsError, isAnnalsError } from '@annals/core'
import { describe, expect, it } from 'vitest'
import * as projections from './index.js'

const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
const documented = [...docs.matchAll(/^\| `(ANNALS_[A-Z_]+)` *\|/gm)].map((m) => m[1])
const codes = Object.values(projections.ProjectionErrorCodes)

const instances: AnnalsError[] = [
  new projections.ProjectionInvalidIdentifierError('schema', 'Bad'),
  new projections.InvalidProjectionDefinitionError('p', 'bad'),
  new projections.ProjectionInvalidOptionError('batchSize', 'bad'),
  new projections.DuplicateProjectionError('p'),
  new projections.UnknownProjectionError('p', ['q']),
  new projections.ProjectionMigrationError('failed', '0001'),
  new projections.LeaseLostError('p', 3n),
  new projections.HandlerFailedError('p', 'id', 0, { cause: new Error('x') }),
  new projections.SinkFailedError('redis', 'down'),
  new projections.ProjectionAlreadyStartedError(),
  new projections.DeadLetterNotFoundError(7n),
  new projections.ProjectionTimeoutError('idle', 10),
]

describe('error catalogue', () => {
  it('has unique codes, all prefixed ANNALS_PROJ_ERR_', () => {
    expect(new Set(codes).size).toBe(codes.length)
    for (const code of codes) expect(code).toMatch(/^ANNALS_PROJ_ERR_[A-Z_]+$/)
  })

  it('documents every code in docs/errors.md, and nothing else', () => {
    expect([...documented].sort()).toEqual([...codes].sort())
  })

  it('has one exported error class per code', () => {
    expect(instances.map((e) => e.code).sort()).toEqual([...codes].sort())
    for (const error of instances) {
      expect(error).toBeInstanceOf(AnnalsError)
      expect((projections as Record<string, unknown>)[error.name]).toBe(error.constructor)
      expect(isAnnalsError(error, error.code)).toBe(true)
      expect(error.message.length).toBeGreaterThan(0)
    }
  })

  it('guards recognise errors by code, also across package copies', () => {
    expect(projections.isLeaseLostError({ code: 'ANNALS_PROJ_ERR_LEASE_LOST' })).toBe(true)
    expect(projections.isHandlerFailedError({ code: 'ANNALS_PROJ_ERR_HANDLER_FAILED' })).toBe(true)
    expect(projections.isLeaseLostError(new Error('x'))).toBe(false)
  })
})
