import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { AnnalsError, isAnnalsError } from '../errors.js'

/** What {@link errorCatalogueSuite} checks for one package. */
export type ErrorCatalogue = Readonly<{
  /** The package name, for the suite title. */
  name: string
  /** The package's code table (`CoreErrorCodes`, `ProjectionErrorCodes`, …). */
  codes: Readonly<Record<string, string>>
  /** The code prefix every code carries, e.g. `ANNALS_PROJ_ERR_`. */
  prefix: string
  /** The package's public entry (`import * as api from './index.js'`): every error class must be exported from it. */
  entry: Readonly<Record<string, unknown>>
  /** One instance of every error class the package defines: together they cover every code. */
  instances: readonly AnnalsError[]
  /** The package's `docs/errors.md` (a URL or path): it must document every code, and nothing else. */
  docs: URL | string
  /** Guards to check: each must accept a plain `{ code }` object (errors from another package copy) and reject an `Error`. */
  guards?: ReadonlyArray<readonly [guard: (error: unknown) => boolean, code: string]>
}>

/**
 * The error-catalogue test every Annals package runs, fastify-style: codes unique and prefixed,
 * documented in `docs/errors.md` (Code | Meaning | How to fix) and nowhere else, one exported
 * class per code, and guards that recognise errors by code across duplicated package copies.
 * @example errorCatalogueSuite({ name: '@annals/sagas', codes: SagaErrorCodes, prefix: 'ANNALS_SAGA_ERR_', entry: api, instances, docs: new URL('../docs/errors.md', import.meta.url) })
 */
export function errorCatalogueSuite(catalogue: ErrorCatalogue): void {
  const codes = Object.values(catalogue.codes)
  describe(`${catalogue.name} error catalogue`, () => {
    it(`has unique codes, all prefixed ${catalogue.prefix}`, () => {
      expect(new Set(codes).size).toBe(codes.length)
      for (const code of codes) expect(code.startsWith(catalogue.prefix) && /^[A-Z_]+$/.test(code), code).toBe(true)
    })

    it('documents every code in docs/errors.md, and nothing else', () => {
      const docs = readFileSync(catalogue.docs, 'utf8')
      const documented = [...docs.matchAll(/^\| `(ANNALS_[A-Z_]+)` *\|/gm)].map((m) => m[1])
      expect([...documented].sort()).toEqual([...codes].sort())
    })

    it('has one exported error class per code', () => {
      expect(catalogue.instances.map((e) => e.code).sort()).toEqual([...codes].sort())
      for (const error of catalogue.instances) {
        expect(error).toBeInstanceOf(AnnalsError)
        expect(error).toBeInstanceOf(Error)
        expect(catalogue.entry[error.name], error.name).toBe(error.constructor)
        expect(isAnnalsError(error, error.code)).toBe(true)
        expect(error.message.length).toBeGreaterThan(0)
      }
    })

    if (catalogue.guards && catalogue.guards.length > 0) {
      it('guards recognise errors by code, also across package copies', () => {
        for (const [guard, code] of catalogue.guards ?? []) {
          expect(guard({ code, message: 'from another copy' }), code).toBe(true)
          expect(guard(new Error(code)), code).toBe(false)
        }
      })
    }
  })
}
