import { createPostgresSink, defineProjection } from '@annals/projections'
import type pg from 'pg'
import { MoneyDeposited, MoneyWithdrawn } from '../accounts/account.js'

/** Name of the daily activity projection (a Postgres read model). */
export const DAILY_ACTIVITY = 'daily-activity'

/** Schema of the demo's Postgres read models (the view `daily_activity` points at the live generation). */
export const READ_MODEL_SCHEMA = 'bank_read'

/**
 * Money in and out per account and day, in Postgres: the rows and the checkpoint commit in one
 * transaction, so a redelivered batch is never counted twice.
 */
export function dailyActivityProjection(pool: pg.Pool) {
  return defineProjection({
    name: DAILY_ACTIVITY,
    version: 1,
    handles: [MoneyDeposited, MoneyWithdrawn],
    sink: createPostgresSink({
      pool,
      schema: READ_MODEL_SCHEMA,
      tables: {
        daily_activity: (t) =>
          `CREATE TABLE ${t} (account_id text NOT NULL, day date NOT NULL, money_in bigint NOT NULL DEFAULT 0,
             money_out bigint NOT NULL DEFAULT 0, movements int NOT NULL DEFAULT 0, PRIMARY KEY (account_id, day))`,
      },
    }),
    async applyBatch(events, { client, table }) {
      const t = table('daily_activity')
      // One statement per batch: the rows are summed per account and day before the upsert.
      await client.query(
        `INSERT INTO ${t} (account_id, day, money_in, money_out, movements)
         SELECT account_id, day, sum(money_in), sum(money_out), count(*)
           FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[]) AS x(account_id, at, money_in, money_out),
                LATERAL (SELECT (at AT TIME ZONE 'UTC')::date AS day) d
          GROUP BY account_id, day
         ON CONFLICT (account_id, day) DO UPDATE SET money_in = ${t}.money_in + excluded.money_in,
           money_out = ${t}.money_out + excluded.money_out, movements = ${t}.movements + excluded.movements`,
        [
          events.map((e) => e.data.accountId),
          events.map((e) => e.recordedAt),
          events.map((e) => (e.type === 'MoneyDeposited' ? e.data.amount : 0)),
          events.map((e) => (e.type === 'MoneyWithdrawn' ? e.data.amount : 0)),
        ],
      )
    },
  })
}
