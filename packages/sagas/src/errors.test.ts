import { readFileSync } from 'node:fs'
import { AnnalsError, isAnnalsError } from '@annals/core'
import { describe, expect, it } from 'vitest'
import * as sagas from './index.js'

const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
const documented = [...docs.matchAll(/^\| `(ANNALS_[A-Z_]+)` *\|/gm)].map((m) => m[1])
const codes = Object.values(sagas.SagaErrorCodes)

const instances: AnnalsError[] = [
  new sagas.InvalidSagaDefinitionError('s', 'bad'),
  new sagas.InvalidSagaIdentifierError('schema', 'Bad'),
  new sagas.InvalidSagaOptionError('limit', 'bad'),
  new sagas.UnknownSagaError('s', ['t']),
  new sagas.SagaNotFoundError('s', 'id'),
  new sagas.CorruptSagaHistoryError('saga-s-id', 'bad'),
  new sagas.SagaMigrationError('failed', '0001'),
  new sagas.SagaWorkerAlreadyStartedError(),
]

describe('error catalogue', () => {
  it('has unique codes, all prefixed ANNALS_SAGA_ERR_', () => {
    expect(new Set(codes).size).toBe(codes.length)
    for (const code of codes) expect(code).toMatch(/^ANNALS_SAGA_ERR_[A-Z_]+$/)
  })

  it('documents every code in docs/errors.md, and nothing else', () => {
    expect([...documented].sort()).toEqual([...codes].sort())
  })

  it('has one exported error class per code', () => {
    expect(instances.map((e) => e.code).sort()).toEqual([...codes].sort())
    for (const error of instances) {
      expect(error).toBeInstanceOf(AnnalsError)
      expect((sagas as Record<string, unknown>)[error.name]).toBe(error.constructor)
      expect(isAnnalsError(error, error.code)).toBe(true)
      expect(error.message.length).toBeGreaterThan(0)
    }
  })

  it('guards recognise errors by code, also across package copies', () => {
    expect(sagas.isSagaNotFoundError({ code: 'ANNALS_SAGA_ERR_NOT_FOUND' })).toBe(true)
    expect(sagas.isCorruptSagaHistoryError({ code: 'ANNALS_SAGA_ERR_CORRUPT_HISTORY' })).toBe(true)
    expect(sagas.isSagaNotFoundError(new Error('x'))).toBe(false)
  })
})
