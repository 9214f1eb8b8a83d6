import type { Dialect } from '../sql/executor.ts';

/** One schema change. `up` returns its statements for the dialect; they run in one transaction. */
export interface Migration {
  /** Applied in ascending order; never renumber or edit a released migration, add a new one. */
  readonly version: number;
  readonly name: string;
  readonly up: (dialect: Dialect) => readonly string[];
}

function columnTypes(dialect: Dialect): { key: string; sequence: string } {
  return dialect === 'postgres'
    ? {
        // Ids and sort keys compare byte-wise on both engines, so pages and orders are the same
        // whatever collation the PostgreSQL database was created with.
        key: 'TEXT COLLATE "C"',
        sequence: 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY',
      }
    : { key: 'TEXT', sequence: 'INTEGER PRIMARY KEY' };
}

/** Every migration, oldest first. Times are BIGINT milliseconds; JSON payloads are TEXT. */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'fleet registry',
    up: (dialect) => {
      const { key, sequence } = columnTypes(dialect);
      return [
        `CREATE TABLE meta (
          key ${key} PRIMARY KEY,
          value TEXT NOT NULL
        )`,
        `CREATE TABLE enrollment_tokens (
          id ${key} PRIMARY KEY,
          secret_hash TEXT NOT NULL,
          labels TEXT NOT NULL,
          created_at BIGINT NOT NULL,
          created_by TEXT NOT NULL,
          expires_at BIGINT NOT NULL,
          used_at BIGINT,
          used_by_device_id TEXT,
          revoked_at BIGINT
        )`,
        'CREATE INDEX enrollment_tokens_created ON enrollment_tokens (created_at, id)',
        `CREATE TABLE devices (
          id ${key} PRIMARY KEY,
          name TEXT NOT NULL,
          enrolled_at BIGINT NOT NULL,
          enrollment_token_id TEXT,
          last_seen_at BIGINT,
          report_interval_ms BIGINT NOT NULL,
          agent_version TEXT NOT NULL,
          inventory_version BIGINT NOT NULL,
          revoked_at BIGINT
        )`,
        // Labels are rows, not a JSON column, so a selector is an index lookup per label even with
        // 100,000 devices.
        `CREATE TABLE device_labels (
          device_id ${key} NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
          key ${key} NOT NULL,
          value TEXT NOT NULL,
          PRIMARY KEY (device_id, key)
        )`,
        'CREATE INDEX device_labels_selector ON device_labels (key, value, device_id)',
        `CREATE TABLE certificates (
          serial ${key} PRIMARY KEY,
          device_id ${key} NOT NULL REFERENCES devices (id),
          not_before BIGINT NOT NULL,
          not_after BIGINT NOT NULL,
          issued_at BIGINT NOT NULL,
          fingerprint TEXT NOT NULL,
          revoked_at BIGINT
        )`,
        'CREATE INDEX certificates_device ON certificates (device_id, issued_at)',
        'CREATE INDEX certificates_revoked ON certificates (not_after) WHERE revoked_at IS NOT NULL',
        `CREATE TABLE inventory_snapshots (
          device_id ${key} NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
          version BIGINT NOT NULL,
          collected_at BIGINT NOT NULL,
          received_at BIGINT NOT NULL,
          inventory TEXT NOT NULL,
          PRIMARY KEY (device_id, version)
        )`,
        `CREATE TABLE inventory_changes (
          device_id ${key} NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
          version BIGINT NOT NULL,
          received_at BIGINT NOT NULL,
          collected_at BIGINT NOT NULL,
          section ${key} NOT NULL,
          key ${key} NOT NULL,
          kind TEXT NOT NULL CHECK (kind IN ('added', 'removed', 'changed')),
          before_value TEXT,
          after_value TEXT,
          PRIMARY KEY (device_id, version, section, key)
        )`,
        'CREATE INDEX inventory_changes_section ON inventory_changes (device_id, section, version)',
        `CREATE TABLE operators (
          id ${key} PRIMARY KEY,
          name TEXT NOT NULL,
          role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
          token_hash TEXT NOT NULL UNIQUE,
          created_at BIGINT NOT NULL,
          created_by TEXT NOT NULL,
          revoked_at BIGINT
        )`,
        'CREATE INDEX operators_created ON operators (created_at, id)',
        // seq keeps the order actions were recorded in when several share a millisecond.
        `CREATE TABLE operator_actions (
          seq ${sequence},
          id TEXT NOT NULL UNIQUE,
          at BIGINT NOT NULL,
          operator_id ${key} NOT NULL,
          operator_name TEXT NOT NULL,
          action TEXT NOT NULL,
          target ${key} NOT NULL,
          details TEXT NOT NULL
        )`,
        'CREATE INDEX operator_actions_at ON operator_actions (at, seq)',
        'CREATE INDEX operator_actions_operator ON operator_actions (operator_id, at, seq)',
        'CREATE INDEX operator_actions_target ON operator_actions (target, at, seq)',
      ];
    },
  },
];
