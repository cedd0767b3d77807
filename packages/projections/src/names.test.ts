import { describe, expect, it } from 'vitest'
import { projectionTables } from './names.js'
import { createPostgresSink } from './sinks/postgres-sink.js'

const pool = {} as never
const invalid = expect.objectContaining({ code: 'ANNALS_PG_ERR_INVALID_IDENTIFIER' })

describe('projectionTables', () => {
  it('names the tables and the ledger in the default schema, a given one, or a location', () => {
    expect(projectionTables()).toMatchObject({
      schema: 'annals',
      registry: '"annals"."projections"',
      leases: '"annals"."projection_leases"',
      deadLetters: '"annals"."projection_dead_letters"',
      checkpoints: '"annals"."projection_checkpoints"',
      ledger: 'annals_projections_migrations',
    })
    expect(projectionTables('Bank').leases).toBe('"Bank"."projection_leases"')
    expect(projectionTables({ schema: 'Bank' })).toMatchObject({ schema: 'Bank', registry: '"Bank"."projections"' })
    expect(projectionTables({ tablePrefix: 't_' })).toMatchObject({
      schema: 'annals',
      registry: '"annals"."t_projections"',
      ledger: 't_annals_projections_migrations',
    })
  })

  it("follows the store's identifier rule: 63 bytes and mixed case pass, the rest is a typed error", () => {
    const longest = `B${'x'.repeat(62)}`
    expect(projectionTables(longest).schema).toBe(longest)
    for (const bad of [`${longest}x`, 'pg_bank', 'a-b', 'a"b', '1abc', '']) {
      expect(() => projectionTables(bad)).toThrow(invalid)
    }
  })
})

describe('createPostgresSink names', () => {
  const kv = (table: string) => `CREATE TABLE ${table} (k text)`

  it("takes any schema and table the store's rule allows, leaving room for the generation suffix", () => {
    const table = `T${'x'.repeat(50)}`
    const sink = createPostgresSink({ pool, schema: `Bank_${'x'.repeat(58)}`, tables: { [table]: kv } })
    expect(sink.tableNames).toEqual([table])
    expect(createPostgresSink({ pool, tables: { balances: kv } }).schema).toBe('public')
  })

  it('rejects a schema or table that is not an identifier, or a table whose generations would be truncated', () => {
    expect(() => createPostgresSink({ pool, schema: 'bad-schema', tables: { kv } })).toThrow(invalid)
    for (const table of ['bad-table', 'a"b', `T${'x'.repeat(51)}`]) {
      expect(() => createPostgresSink({ pool, tables: { [table]: kv } })).toThrow(invalid)
    }
    expect(() => createPostgresSink({ pool, tables: {} })).toThrow(
      expect.objectContaining({ code: 'ANNALS_PROJ_ERR_INVALID_OPTION' }),
    )
  })
})
