import { errorCatalogueSuite } from '@annals/core/testing'
import { describe, expect, it } from 'vitest'
import * as api from './index.js'

const instances = [
  new api.PgInvalidIdentifierError('schema name', 'x;', 'bad'),
  new api.PgMigrationError('0001-init', 'boom'),
  new api.PgNotMigratedError('annals'),
  new api.PgInvalidOptionError('keep', 'bad'),
  new api.PgUnexpectedResultError('odd'),
  new api.PgThrowawayPostgresError('no initdb'),
  new api.PgAppendOutcomeUnknownError([{ streamId: 's', eventIds: ['00000000-0000-4000-8000-000000000000'] }]),
  new api.PgConnectionLostError('gone'),
  new api.PgInvalidDatabaseUrlError('DATABASE_URL', 'it names no host', 'postgres:/x'),
  new api.PgTenantScopeError('forgot the tenant'),
]

errorCatalogueSuite({
  name: '@annals/store-postgres',
  codes: api.PgStoreErrorCodes,
  prefix: 'ANNALS_PG_ERR_',
  entry: api,
  instances,
  docs: new URL('../docs/errors.md', import.meta.url),
})

describe('isPgStoreError', () => {
  it('recognises every code of the package and nothing else', () => {
    for (const error of instances) expect(api.isPgStoreError(error, error.code as api.PgStoreErrorCode)).toBe(true)
    expect(api.isPgStoreError(new Error('x'))).toBe(false)
  })
})
