import { describe, expect, it } from 'vitest'
import { storeTables } from '../store-tables.js'
import { validateSchemaName, validateTablePrefix } from './identifiers.js'

const code = (fn: () => unknown) => {
  try {
    fn()
  } catch (error) {
    return (error as { code?: string }).code
  }
  return 'ok'
}

describe('identifiers', () => {
  it('accepts plain names and quotes them in every qualified name', () => {
    const names = storeTables({ schema: 'app_1', tablePrefix: 'es_' })
    expect(names.events).toBe('"app_1"."es_events"')
    expect(names.appendFunction).toBe('"app_1"."es_append_events"')
    expect(names.channel).toBe('app_1_es_events')
    expect(storeTables().events).toBe('"annals"."events"')
  })

  it.each([
    ['with a quote', 'a"b'],
    ['with a semicolon', 'a;drop schema public'],
    ['with a space', 'a b'],
    ['empty', ''],
    ['starting with a digit', '1abc'],
    ['reserved', 'pg_catalog'],
    ['over 63 bytes', 'a'.repeat(64)],
    ['over 63 bytes in UTF-8', 'é'.repeat(32)],
  ])('rejects a schema name %s with ANNALS_PG_ERR_INVALID_IDENTIFIER', (_, name) => {
    expect(code(() => validateSchemaName(name))).toBe('ANNALS_PG_ERR_INVALID_IDENTIFIER')
  })

  it('names the problem in the message', () => {
    expect(() => validateSchemaName('a;b')).toThrow(/schema name "a;b".*no quotes, semicolons or spaces/)
    expect(() => validateSchemaName('a'.repeat(64))).toThrow(/longer than 63 bytes/)
  })

  it('accepts a 63-byte schema name', () => {
    expect(validateSchemaName('a'.repeat(63))).toBe('a'.repeat(63))
  })

  it.each([
    ['with a quote', 'x"'],
    ['with a semicolon', 'x;'],
    ['with a space', 'x '],
    ['too long for the longest table name', 'p'.repeat(40)],
    ['starting with a digit', '9x_'],
  ])('rejects a table prefix %s', (_, prefix) => {
    expect(code(() => validateTablePrefix(prefix))).toBe('ANNALS_PG_ERR_INVALID_IDENTIFIER')
  })

  it('accepts an empty prefix', () => {
    expect(validateTablePrefix('')).toBe('')
  })
})
