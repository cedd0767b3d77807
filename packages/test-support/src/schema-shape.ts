import type { Pool } from 'pg'

/** The columns and index definitions of a schema's tables, comparable across schemas. */
export type SchemaShape = Readonly<{ columns: unknown[]; indexes: string[] }>

/**
 * Reads the columns and index definitions of the tables in `schema` (those whose name is `LIKE`
 * `exceptTablesLike` left out: the migration ledgers differ by design), with the schema name taken
 * out of the index definitions, so two schemas migrated by different releases compare equal when
 * their DDL is the same.
 * @example expect(await schemaShape(pool, 'shape_new', '%migrations%')).toEqual(await schemaShape(pool, 'shape_old', '%migrations%'))
 */
export async function schemaShape(pool: Pool, schema: string, exceptTablesLike: string): Promise<SchemaShape> {
  const columns = await pool.query(
    `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
     WHERE table_schema = $1 AND table_name NOT LIKE $2 ORDER BY table_name, ordinal_position`,
    [schema, exceptTablesLike],
  )
  const indexes = await pool.query<{ d: string }>(
    `SELECT indexdef AS d FROM pg_indexes WHERE schemaname = $1 AND tablename NOT LIKE $2 ORDER BY indexname`,
    [schema, exceptTablesLike],
  )
  return { columns: columns.rows, indexes: indexes.rows.map((r) => r.d.replaceAll(`${schema}.`, 'S.')) }
}

/** The names of the tables in `schema`, sorted: what a migration created there. */
export async function tableNames(pool: Pool, schema: string): Promise<string[]> {
  const { rows } = await pool.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
    [schema],
  )
  return rows.map((r) => r.t)
}
