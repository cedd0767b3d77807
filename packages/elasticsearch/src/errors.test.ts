import { readFileSync } from 'node:fs'
import { isAnnalsError } from '@annals/core'
import { describe, expect, it } from 'vitest'
import * as api from './index.js'

const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
const documented = [...docs.matchAll(/^\| `(ANNALS_[A-Z_]+)` *\|/gm)].map((m) => m[1])
const codes = Object.values(api.ElasticsearchErrorCodes)

const instances = [
  new api.InvalidElasticsearchOptionError('x', 'bad'),
  new api.ElasticsearchRequestFailedError('bulk', 3, 429, 'busy'),
  new api.IndexSetupError('i', 'bad mapping'),
  new api.DocumentRejectedError('i', 'd', 400, 'mapper_parsing_exception', 'failed to parse'),
  new api.InvalidDocumentVersionError('d', 0n),
  new api.ReadModelNotFoundError('a'),
]

describe('error catalogue', () => {
  it('has unique codes, all prefixed ANNALS_ES_ERR_', () => {
    expect(new Set(codes).size).toBe(codes.length)
    for (const code of codes) expect(code).toMatch(/^ANNALS_ES_ERR_[A-Z_]+$/)
  })

  it('documents every code in docs/errors.md, and nothing else', () => {
    expect([...documented].sort()).toEqual([...codes].sort())
  })

  it('has one exported error class per code', () => {
    expect(instances.map((e) => e.code).sort()).toEqual([...codes].sort())
    for (const error of instances) {
      expect((api as Record<string, unknown>)[error.name]).toBe(error.constructor)
      expect(isAnnalsError(error, error.code)).toBe(true)
    }
  })

  it('guards recognise errors by code, also across package copies', () => {
    expect(api.isDocumentRejectedError({ code: 'ANNALS_ES_ERR_DOCUMENT_REJECTED' })).toBe(true)
    expect(api.isReadModelNotFoundError({ code: 'ANNALS_ES_ERR_READ_MODEL_NOT_FOUND' })).toBe(true)
    expect(api.isDocumentRejectedError(new Error('x'))).toBe(false)
  })
})
