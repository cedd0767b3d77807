import type pg from 'pg'
import type { TableLocation } from '../sql/identifiers.js'
import { storeTables } from '../store-tables.js'

/**
 * Opens a transaction on a client of `pool` that has appended one event (through the store's own
 * append function, as an append does) and leaves it open: the log's fence stays below it until the
 * caller commits or rolls back, then releases the client. For tests of readers behind the fence;
 * the fence is server-wide, so run them on a private server (`startThrowawayPostgres`).
 * @example const held = await openAppend(pool, { schema: 'annals' }, 'acc-1', 'Deposited')
 */
export async function openAppend(
  pool: pg.Pool,
  location: TableLocation,
  streamId: string,
  type: string,
): Promise<pg.PoolClient> {
  const names = storeTables(location)
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query(
      `SELECT * FROM ${names.appendFunction}(ARRAY[$1]::text[], ARRAY[-1]::bigint[], ARRAY[1]::integer[], ARRAY[false],
        ARRAY[gen_random_uuid()], ARRAY[$2]::text[], ARRAY[1], ARRAY['{}']::text[], ARRAY['{}']::text[],
        ARRAY[NULL]::timestamptz[], '{}'::integer[], '{}'::uuid[], '{}'::text[], '{}'::text[], '{}'::text[], '{}'::text[],
        '{}'::text[], '{}'::boolean[], false)`,
      [streamId, type],
    )
  } catch (error) {
    client.release(error as Error)
    throw error
  }
  return client
}
