import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { PgStoreErrorCodes } from './errors.js'
import * as api from './index.js'

const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
const codes = Object.values(PgStoreErrorCodes)

describe('error catalogue', () => {
  it('has unique codes with the package prefix', () => {
    expect(new Set(codes).size).toBe(codes.length)
    for (const code of codes) expect(code).toMatch(/^ANNALS_PG_ERR_[A-Z_]+$/)
  })

  it('documents every code exactly once in docs/errors.md, and nothing else', () => {
    const documented = [...docs.matchAll(/^\| `(ANNALS_PG_ERR_[A-Z_]+)` *\|/gm)].map((m) => m[1])
    expect(documented.sort()).toEqual([...codes].sort())
  })

  it('exports an error class for every code, whose instances carry it', () => {
    const made = [
      new api.PgInvalidIdentifierError('schema name', 'x;', 'bad'),
      new api.PgMigrationError('0001-init', 'boom'),
      new api.PgNotMigratedError('annals'),
      new api.PgInvalidOptionError('keep', 'bad'),
      new api.PgUnexpectedResultError('odd'),
      new api.ThrowawayPostgresError('no initdb'),
    ]
    expect(made.map((e) => e.code).sort()).toEqual([...codes].sort())
    for (const error of made) {
      expect(error).toBeInstanceOf(Error)
      expect(api.isPgStoreError(error, error.code as api.PgStoreErrorCode)).toBe(true)
    }
    expect(api.isPgStoreError(new Error('x'))).toBe(false)
  })
})
