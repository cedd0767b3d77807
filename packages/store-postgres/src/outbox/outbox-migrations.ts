import type { SqlMigration } from '../sql/migrator.js'
import { TENANT_SQL, tenantPolicies } from '../tenancy.js'
import type { OutboxTables } from './outbox-tables.js'

/**
 * The outbox's DDL: the names (`0001-outbox`) and index names are those of release 0.1, whose kysely
 * ledger the migrator keeps reading, so a database migrated then is never migrated twice.
 */
export function outboxMigrations(t: OutboxTables): readonly SqlMigration[] {
  return [
    {
      name: '0001-outbox',
      statements: [
        // Only the first eight columns are written by the event store's append; everything else has a
        // default so that insert never needs to know about the relay's bookkeeping.
        `CREATE TABLE ${t.outbox} (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            message_id      uuid        NOT NULL,
            topic           text        NOT NULL,
            partition_key   text        NOT NULL,
            type            text        NOT NULL,
            payload         jsonb       NOT NULL,
            headers         jsonb       NOT NULL DEFAULT '{}'::jsonb,
            event_id        uuid,
            event_position  bigint,
            status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
            attempts        integer     NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_error      text,
            last_attempt_at timestamptz,
            created_at      timestamptz NOT NULL DEFAULT now(),
            sent_at         timestamptz,
            dead_at         timestamptz
          )`,
        // The relay scans pending rows in id order.
        `CREATE INDEX ${t.local('outbox_pending_idx')} ON ${t.outbox} (id) WHERE status = 'pending'`,
        // "Is there an unsent row of this key before this one?" is the per-key ordering check.
        `CREATE INDEX ${t.local('outbox_unsent_key_idx')} ON ${t.outbox} (partition_key, id) WHERE status <> 'sent'`,
        // Keys held back by a dead or retrying head: few rows, looked up by every claim.
        `CREATE INDEX ${t.local('outbox_retrying_idx')} ON ${t.outbox} (partition_key) WHERE status <> 'sent' AND attempts > 0`,
        `CREATE INDEX ${t.local('outbox_sent_idx')} ON ${t.outbox} (sent_at) WHERE status = 'sent'`,
        `CREATE INDEX ${t.local('outbox_message_id_idx')} ON ${t.outbox} (message_id)`,
        `CREATE TABLE ${t.processed} (
            consumer     text        NOT NULL,
            message_id   text        NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, message_id)
          )`,
        `CREATE INDEX ${t.local('processed_messages_processed_at_idx')} ON ${t.processed} (processed_at)`,
      ],
    },
    {
      // Tenancy: the append writes the row in the tenant's transaction, so the column's default (the
      // transaction's tenant setting, else 'default') tags it without the INSERT naming it. Dead rows
      // (status 'dead') are the outbox's dead letters and keep their tenant. The relay publishes every
      // tenant: it runs as the table's owner (or a BYPASSRLS role) and reads tenant_id per row.
      name: '0002-tenancy',
      statements: [
        `ALTER TABLE ${t.outbox} ADD COLUMN tenant_id text NOT NULL DEFAULT ${TENANT_SQL}`,
        ...tenantPolicies(t.outbox, (x) => t.local(`outbox_${x}`)),
      ],
    },
  ]
}
