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
  {
    version: 2,
    name: 'device events',
    up: (dialect) => {
      const { key } = columnTypes(dialect);
      return [
        // One row per (device, seq): the primary key is what makes a stored event exactly-once, even if
        // two ingests of one device ever raced past the delivery-state lock.
        `CREATE TABLE events (
          device_id ${key} NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
          seq BIGINT NOT NULL,
          id TEXT NOT NULL,
          type ${key} NOT NULL,
          severity TEXT NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
          device_time BIGINT NOT NULL,
          received_at BIGINT NOT NULL,
          data TEXT NOT NULL,
          PRIMARY KEY (device_id, seq)
        )`,
        // Every query reads newest first, (device_time, device_id, seq) descending: for the whole fleet
        // and for one device a page is a range scan of one of these two indexes, not a sort. Type and
        // severity ride along in the fleet-wide index so their filters are checked there, without
        // reading the rows; an index led by type would cost as much at ingest as all the others
        // together, since every type in a batch lands in a different place of it.
        'CREATE INDEX events_time ON events (device_time, device_id, seq, type, severity)',
        'CREATE INDEX events_device_time ON events (device_id, device_time, seq)',
        'CREATE INDEX events_received ON events (received_at)',
        // held_above: JSON ranges [[from, to], ...] of sequence numbers stored beyond a gap; ranges keep
        // the row small while a long gap stays open.
        `CREATE TABLE event_delivery (
          device_id ${key} PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
          acked_seq BIGINT NOT NULL,
          held_above TEXT NOT NULL,
          updated_at BIGINT NOT NULL
        )`,
        `CREATE TABLE event_gaps (
          device_id ${key} NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
          from_seq BIGINT NOT NULL,
          to_seq BIGINT NOT NULL,
          detected_at BIGINT NOT NULL,
          PRIMARY KEY (device_id, from_seq)
        )`,
        'CREATE INDEX event_gaps_detected ON event_gaps (detected_at)',
      ];
    },
  },
  {
    version: 3,
    name: 'one stored event per event id',
    // An agent that crashed after queueing events but before saving its log position reads the same
    // lines again and queues them under new sequence numbers with the same, deterministic ids: the
    // event is the same, so the store keeps it once.
    up: () => ['CREATE UNIQUE INDEX events_device_event_id ON events (device_id, id)'],
  },
  {
    version: 4,
    name: 'syslog outbox',
    up: (dialect) => [
      // AUTOINCREMENT on SQLite: a plain INTEGER PRIMARY KEY reuses ids once the table is emptied, and the
      // sender relies on ids only ever growing (`remove(uptoId)`, the order at the SIEM).
      `CREATE TABLE syslog_outbox (
        id ${dialect === 'postgres' ? 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT'},
        created_at BIGINT NOT NULL,
        message TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 5,
    name: 'policy versions and compliance',
    up: (dialect) => {
      const { key } = columnTypes(dialect);
      const sequence =
        dialect === 'postgres' ? 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY' : 'INTEGER PRIMARY KEY';
      const checkStatus = "CHECK (status IN ('pass', 'fail', 'error', 'not-applicable'))";
      return [
        // One row per version, never changed except for its signed bundle: the version in force (the
        // highest) is re-signed with a later issued_at before it expires and when the CRLs change, and the
        // new bundle replaces the old one only if issued_at is still the one read (replicas race safely).
        `CREATE TABLE policy_versions (
          version BIGINT PRIMARY KEY,
          created_at BIGINT NOT NULL,
          author_id ${key} NOT NULL,
          author_name TEXT NOT NULL,
          message TEXT NOT NULL,
          git_commit TEXT,
          source_files TEXT NOT NULL,
          policy TEXT NOT NULL,
          policy_digest TEXT NOT NULL,
          rollback_of BIGINT,
          bundle TEXT NOT NULL,
          bundle_issued_at BIGINT NOT NULL,
          bundle_expires_at BIGINT NOT NULL,
          crl_digest TEXT NOT NULL,
          crl_issued_at BIGINT NOT NULL
        )`,
        // Each device's latest result per check. The segment is copied onto every row so that the
        // per-segment summary is one scan of an index, not a join, at 100,000 devices.
        `CREATE TABLE compliance_results (
          device_id ${key} NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
          check_id ${key} NOT NULL,
          segment ${key} NOT NULL,
          status TEXT NOT NULL ${checkStatus},
          detail TEXT NOT NULL,
          evaluated_at BIGINT NOT NULL,
          bundle_version BIGINT NOT NULL,
          remediation TEXT,
          status_since BIGINT NOT NULL,
          PRIMARY KEY (device_id, check_id)
        )`,
        // Covering the summaries (device_id for leaving revoked devices out): at 100,000 devices with
        // 20 checks each, a summary reads one index instead of 2 million rows (0.2 s instead of 3 s).
        'CREATE INDEX compliance_results_check ON compliance_results (check_id, status, device_id)',
        'CREATE INDEX compliance_results_segment ON compliance_results (segment, status, device_id)',
        `CREATE TABLE compliance_state (
          device_id ${key} PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
          bundle_version BIGINT NOT NULL,
          segment ${key} NOT NULL,
          evaluated_at BIGINT NOT NULL,
          stale INTEGER NOT NULL,
          received_at BIGINT NOT NULL
        )`,
        'CREATE INDEX compliance_state_segment ON compliance_state (segment)',
        // A row each time a check's status changes on a device (`removed`: the check no longer applies to
        // it). The status of any day is the last row before its end, which is what the trend reads.
        `CREATE TABLE compliance_history (
          seq ${sequence},
          device_id ${key} NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
          check_id ${key} NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('pass', 'fail', 'error', 'not-applicable', 'removed')),
          at BIGINT NOT NULL
        )`,
        'CREATE INDEX compliance_history_check ON compliance_history (device_id, check_id, at, seq)',
        'CREATE INDEX compliance_history_at ON compliance_history (at)',
      ];
    },
  },
  {
    version: 6,
    name: 'alerts and their notifications',
    up: (dialect) => {
      const { key } = columnTypes(dialect);
      const sequence =
        dialect === 'postgres' ? 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY' : 'INTEGER PRIMARY KEY';
      const severity = "IN ('info', 'low', 'medium', 'high', 'critical')";
      return [
        // One row per (rule, group), reopened when it recurs: the unique index is what keeps two managers
        // raising the same new alert at once from making two.
        `CREATE TABLE alerts (
          id ${key} PRIMARY KEY,
          rule_id ${key} NOT NULL,
          rule_title TEXT NOT NULL,
          kind TEXT NOT NULL CHECK (kind IN ('detection', 'correlation')),
          group_key ${key} NOT NULL,
          group_fields TEXT NOT NULL,
          severity TEXT NOT NULL CHECK (severity ${severity}),
          tier TEXT NOT NULL CHECK (tier ${severity}),
          state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved', 'suppressed')),
          source TEXT NOT NULL CHECK (source IN ('agent', 'hub', 'site')),
          device_ids TEXT NOT NULL,
          first_seen BIGINT NOT NULL,
          last_seen BIGINT NOT NULL,
          count BIGINT NOT NULL,
          event_refs TEXT NOT NULL,
          bursts TEXT NOT NULL,
          response TEXT NOT NULL,
          route TEXT NOT NULL,
          assignee ${key},
          resolution TEXT CHECK (resolution IN ('fixed', 'false-positive', 'duplicate', 'accepted-risk', 'auto')),
          suppressed_until BIGINT,
          created_at BIGINT NOT NULL,
          opened_at BIGINT NOT NULL,
          acknowledged_at BIGINT,
          resolved_at BIGINT,
          reopened_count INTEGER NOT NULL,
          last_signal_at BIGINT NOT NULL,
          updated_at BIGINT NOT NULL
        )`,
        'CREATE UNIQUE INDEX alerts_rule_group ON alerts (rule_id, group_key)',
        // Lists read newest activity first: each filter that narrows most has an index in that order.
        'CREATE INDEX alerts_recent ON alerts (last_signal_at, id)',
        'CREATE INDEX alerts_state ON alerts (state, last_signal_at, id)',
        'CREATE INDEX alerts_rule ON alerts (rule_id, last_signal_at, id)',
        'CREATE INDEX alerts_assignee ON alerts (assignee, last_signal_at, id) WHERE assignee IS NOT NULL',
        // A fleet-wide correlation can name thousands of devices: rows, so that "alerts of this device" is
        // an index lookup rather than a scan of JSON.
        `CREATE TABLE alert_devices (
          alert_id ${key} NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
          device_id ${key} NOT NULL,
          PRIMARY KEY (alert_id, device_id)
        )`,
        'CREATE INDEX alert_devices_device ON alert_devices (device_id, alert_id)',
        `CREATE TABLE alert_notes (
          seq ${sequence},
          alert_id ${key} NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
          at BIGINT NOT NULL,
          author_id TEXT NOT NULL,
          author TEXT NOT NULL,
          text TEXT NOT NULL
        )`,
        'CREATE INDEX alert_notes_alert ON alert_notes (alert_id, seq)',
        // rule_id is copied here so that the noise figures of a period read this table alone.
        `CREATE TABLE alert_history (
          seq ${sequence},
          alert_id ${key} NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
          rule_id ${key} NOT NULL,
          at BIGINT NOT NULL,
          actor TEXT NOT NULL,
          kind ${key} NOT NULL,
          resolution TEXT,
          duration_ms BIGINT,
          change TEXT NOT NULL
        )`,
        'CREATE INDEX alert_history_alert ON alert_history (alert_id, seq)',
        'CREATE INDEX alert_history_at ON alert_history (at, kind, rule_id)',
        // The notification outbox. lease_owner and lease_until are a sender's claim: a replica takes due rows
        // in one UPDATE, and a claim left by a crashed replica expires.
        `CREATE TABLE alert_deliveries (
          id ${key} PRIMARY KEY,
          alert_id ${key} REFERENCES alerts (id) ON DELETE CASCADE,
          digest_key ${key},
          destination ${key} NOT NULL,
          payload TEXT NOT NULL,
          state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failing')),
          attempts INTEGER NOT NULL,
          next_attempt_at BIGINT NOT NULL,
          last_error TEXT,
          lease_owner TEXT,
          lease_until BIGINT,
          created_at BIGINT NOT NULL,
          delivered_at BIGINT
        )`,
        // NULL digest keys never collide, so only digests are unique per destination.
        'CREATE UNIQUE INDEX alert_deliveries_digest ON alert_deliveries (destination, digest_key)',
        "CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at, id) WHERE state <> 'delivered'",
        'CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id, created_at)',
        'CREATE INDEX alert_deliveries_created ON alert_deliveries (state, created_at, id)',
        'CREATE INDEX alert_deliveries_recent ON alert_deliveries (created_at, id)',
        `CREATE TABLE alert_digest_items (
          destination ${key} NOT NULL,
          schedule ${key} NOT NULL CHECK (schedule IN ('medium', 'low')),
          alert_id ${key} NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
          queued_at BIGINT NOT NULL,
          PRIMARY KEY (destination, schedule, alert_id)
        )`,
        'CREATE INDEX alert_digest_items_due ON alert_digest_items (schedule, queued_at)',
      ];
    },
  },
  {
    version: 7,
    name: 'audit chain',
    up: () => [
      // seq is assigned by the appender under a lock, not by the database: the chain must have no gaps,
      // and an identity column skips values when a transaction rolls back.
      `CREATE TABLE audit_entries (
        seq BIGINT PRIMARY KEY,
        at BIGINT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        subject TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      )`,
      'CREATE INDEX audit_entries_at ON audit_entries (at, seq)',
      `CREATE TABLE audit_checkpoints (
        seq BIGINT PRIMARY KEY,
        hash TEXT NOT NULL,
        at BIGINT NOT NULL,
        key_id TEXT NOT NULL,
        signature TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 8,
    name: 'device commands and isolation',
    up: (dialect) => {
      const { key } = columnTypes(dialect);
      return [
        // params and result are JSON; status is pending, sent, done or failed (a refusal is failed, its
        // result says why).
        `CREATE TABLE device_commands (
          id ${key} PRIMARY KEY,
          device_id ${key} NOT NULL REFERENCES devices (id),
          kind TEXT NOT NULL,
          params TEXT NOT NULL,
          created_at BIGINT NOT NULL,
          created_by TEXT NOT NULL,
          sent_at BIGINT,
          acknowledged_at BIGINT,
          result TEXT,
          status TEXT NOT NULL
        )`,
        'CREATE INDEX device_commands_device ON device_commands (device_id, created_at, id)',
        // One row per device ever isolated: what operators want, and what the device last reported.
        `CREATE TABLE device_isolation (
          device_id ${key} PRIMARY KEY REFERENCES devices (id),
          desired TEXT NOT NULL,
          desired_at BIGINT NOT NULL,
          desired_by TEXT NOT NULL,
          reason TEXT NOT NULL,
          command_id ${key} NOT NULL,
          reported TEXT,
          reported_at BIGINT
        )`,
      ];
    },
  },
  {
    version: 9,
    name: 'evidence, incidents and device audit chains',
    up: (dialect) => {
      const { key, sequence } = columnTypes(dialect);
      return [
        // The bytes live on disk, content-addressed by SHA-256; a row is the manifest, its signature and
        // certificate, and how far the upload got.
        `CREATE TABLE evidence_bundles (
          id ${key} PRIMARY KEY,
          device_id ${key} NOT NULL REFERENCES devices (id),
          command_id ${key},
          trigger TEXT NOT NULL,
          rule_id TEXT,
          reason TEXT NOT NULL,
          manifest TEXT NOT NULL,
          signature TEXT NOT NULL,
          certificate_pem TEXT NOT NULL,
          sha256 TEXT NOT NULL,
          total_bytes BIGINT NOT NULL,
          received_bytes BIGINT NOT NULL,
          item_count INTEGER NOT NULL,
          state TEXT NOT NULL CHECK (state IN ('uploading', 'verified', 'rejected')),
          problem TEXT,
          collected_at BIGINT NOT NULL,
          created_at BIGINT NOT NULL,
          updated_at BIGINT NOT NULL,
          verified_at BIGINT
        )`,
        'CREATE INDEX evidence_bundles_device ON evidence_bundles (device_id, created_at, id)',
        'CREATE INDEX evidence_bundles_created ON evidence_bundles (created_at, id)',
        // steps is the playbook checklist as JSON, ticks included.
        `CREATE TABLE incidents (
          id ${key} PRIMARY KEY,
          device_id ${key} NOT NULL REFERENCES devices (id),
          alert_id ${key},
          title TEXT NOT NULL,
          type TEXT,
          state TEXT NOT NULL CHECK (state IN ('open', 'contained', 'eradicated', 'recovered', 'closed')),
          assignee TEXT,
          playbook_id TEXT,
          playbook_title TEXT,
          steps TEXT NOT NULL,
          opened_by TEXT NOT NULL,
          opened_at BIGINT NOT NULL,
          first_seen_at BIGINT,
          detected_at BIGINT NOT NULL,
          contained_at BIGINT,
          eradicated_at BIGINT,
          recovered_at BIGINT,
          closed_at BIGINT,
          resolution TEXT,
          updated_at BIGINT NOT NULL
        )`,
        'CREATE INDEX incidents_opened ON incidents (opened_at, id)',
        'CREATE INDEX incidents_device ON incidents (device_id, opened_at)',
        `CREATE TABLE incident_timeline (
          seq ${sequence},
          incident_id ${key} NOT NULL REFERENCES incidents (id),
          at BIGINT NOT NULL,
          actor TEXT NOT NULL,
          kind TEXT NOT NULL,
          text TEXT NOT NULL,
          details TEXT NOT NULL
        )`,
        'CREATE INDEX incident_timeline_incident ON incident_timeline (incident_id, seq)',
        // A device's own chain as it uploaded it, and the checkpoints the manager anchored in its chain.
        `CREATE TABLE device_audit_entries (
          device_id ${key} NOT NULL REFERENCES devices (id),
          seq BIGINT NOT NULL,
          at BIGINT NOT NULL,
          kind TEXT NOT NULL,
          actor TEXT NOT NULL,
          subject TEXT NOT NULL,
          details TEXT NOT NULL,
          prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL,
          PRIMARY KEY (device_id, seq)
        )`,
        `CREATE TABLE device_audit_anchors (
          device_id ${key} NOT NULL REFERENCES devices (id),
          seq BIGINT NOT NULL,
          hash TEXT NOT NULL,
          at BIGINT NOT NULL,
          key_id TEXT NOT NULL,
          signature TEXT NOT NULL,
          certificate_pem TEXT NOT NULL,
          manager_seq BIGINT NOT NULL,
          PRIMARY KEY (device_id, seq)
        )`,
      ];
    },
  },
  {
    version: 10,
    name: 'artifacts, TUF metadata and rollouts',
    up: (dialect) => {
      const { key } = columnTypes(dialect);
      return [
        // Content-addressed: the file lives under <dataDir>/artifacts/sha256/<sha256>; compat is JSON.
        `CREATE TABLE artifacts (
          name ${key} NOT NULL,
          version ${key} NOT NULL,
          sha256 TEXT NOT NULL,
          length BIGINT NOT NULL,
          severity TEXT NOT NULL,
          compat TEXT NOT NULL,
          released_at BIGINT NOT NULL,
          uploaded_by TEXT NOT NULL,
          PRIMARY KEY (name, version)
        )`,
        `CREATE TABLE artifact_floors (
          name ${key} PRIMARY KEY,
          version TEXT NOT NULL,
          set_at BIGINT NOT NULL,
          set_by TEXT NOT NULL
        )`,
        // Every signed version of every role, so devices can fetch N.root.json and consistent snapshots.
        `CREATE TABLE tuf_metadata (
          role ${key} NOT NULL,
          version BIGINT NOT NULL,
          body TEXT NOT NULL,
          expires_at BIGINT NOT NULL,
          created_at BIGINT NOT NULL,
          PRIMARY KEY (role, version)
        )`,
        // spec is the validated create request (JSON); the state machine's fields are columns.
        `CREATE TABLE rollouts (
          id ${key} PRIMARY KEY,
          artifact_name ${key} NOT NULL,
          artifact_version ${key} NOT NULL,
          spec TEXT NOT NULL,
          state TEXT NOT NULL,
          current_phase INTEGER NOT NULL,
          phase_started_at BIGINT,
          reason TEXT,
          created_at BIGINT NOT NULL,
          created_by TEXT NOT NULL,
          updated_at BIGINT NOT NULL
        )`,
        'CREATE INDEX rollouts_state ON rollouts (state, created_at)',
        `CREATE TABLE rollout_devices (
          rollout_id ${key} NOT NULL REFERENCES rollouts (id),
          device_id ${key} NOT NULL REFERENCES devices (id),
          phase INTEGER NOT NULL,
          site TEXT NOT NULL,
          state TEXT NOT NULL,
          assigned_at BIGINT,
          finished_at BIGINT,
          detail TEXT NOT NULL,
          updated_at BIGINT NOT NULL,
          PRIMARY KEY (rollout_id, device_id)
        )`,
        'CREATE INDEX rollout_devices_device ON rollout_devices (device_id, state)',
        'CREATE INDEX rollout_devices_phase ON rollout_devices (rollout_id, phase, state)',
        // What each device says it runs, per artifact name (signed report), for fallbacks and the patch SLA.
        `CREATE TABLE device_artifact_versions (
          device_id ${key} NOT NULL REFERENCES devices (id),
          name ${key} NOT NULL,
          version TEXT,
          fell_back_from TEXT,
          installed_at BIGINT,
          reported_at BIGINT NOT NULL,
          PRIMARY KEY (device_id, name)
        )`,
      ];
    },
  },
  {
    version: 11,
    name: 'federation: sites, their uplink and overlays',
    up: (dialect) => {
      const { key } = columnTypes(dialect);
      return [
        // On a hub: one row per site it delegates to. The site enrolls with the token named here, which is
        // what makes its certificate a site identity rather than a device's.
        `CREATE TABLE sites (
          id ${key} PRIMARY KEY,
          name TEXT NOT NULL,
          max_offline_ms BIGINT NOT NULL,
          created_at BIGINT NOT NULL,
          created_by TEXT NOT NULL,
          enrollment_token_id ${key} NOT NULL UNIQUE,
          enrolled_at BIGINT,
          overlay_public_key_pem TEXT,
          ca_serial TEXT,
          ca_not_after BIGINT,
          last_sync_at BIGINT,
          backlog BIGINT NOT NULL,
          budget_ends_at BIGINT,
          conflicts BIGINT NOT NULL
        )`,
        // On a site: the hub's acknowledgement of each device's events, the inventory version and the
        // compliance report (by its receipt here) it holds,
        // so forwarding resumes where it stopped across link cuts and restarts.
        `CREATE TABLE site_uplink (
          device_id ${key} PRIMARY KEY,
          acked_seq BIGINT NOT NULL,
          inventory_version BIGINT NOT NULL DEFAULT 0,
          compliance_received_at BIGINT NOT NULL DEFAULT 0
        )`,
        // Signed site overlays: on a hub the last one each site sent, on a site the one it publishes.
        `CREATE TABLE site_overlays (
          site_id ${key} PRIMARY KEY,
          version BIGINT NOT NULL,
          overlay TEXT NOT NULL,
          updated_at BIGINT NOT NULL
        )`,
      ];
    },
  },
  {
    version: 12,
    name: 'device list orders',
    // The dashboard's device table sorts by name, last contact or enrollment and pages by keyset:
    // (sort, id) indexes keep every page a seek, even at 100,000 devices. The overview counts the few
    // devices that need a look (failing a check, on a stale bundle, revoked) through partial indexes that
    // hold only those, instead of scanning every device's results.
    up: () => [
      'CREATE INDEX devices_name ON devices (name, id)',
      'CREATE INDEX devices_last_seen ON devices ((COALESCE(last_seen_at, -1)), id)',
      'CREATE INDEX devices_enrolled ON devices (enrolled_at, id)',
      'CREATE INDEX devices_revoked ON devices (id) WHERE revoked_at IS NOT NULL',
      "CREATE INDEX compliance_results_failing ON compliance_results (device_id) WHERE status = 'fail'",
      'CREATE INDEX compliance_state_stale ON compliance_state (device_id) WHERE stale = 1',
    ],
  },
  {
    version: 13,
    name: 'federation: site alerts, site revocation and relayed commands',
    up: (dialect) => {
      const { key } = columnTypes(dialect);
      return [
        // On a hub: the site whose own rules raised the alert (null for the hub's and agents' alerts), and
        // the site's time of the change the hub holds (the site's clock, compared only with the site's).
        `ALTER TABLE alerts ADD COLUMN site_id ${key}`,
        'ALTER TABLE alerts ADD COLUMN site_changed_at BIGINT',
        // The site sends its alerts in the order it changed them, from where the hub last took them.
        'CREATE INDEX alerts_changed ON alerts (updated_at, id)',
        'ALTER TABLE sites ADD COLUMN revoked_at BIGINT',
        // On a site: each hub command it queued for one of its devices (under the hub's id, so a command
        // handed over twice is queued once), and when the hub got its result.
        `CREATE TABLE site_relayed_commands (
          command_id ${key} PRIMARY KEY,
          device_id ${key} NOT NULL,
          relayed_at BIGINT NOT NULL,
          result_forwarded_at BIGINT
        )`,
        'CREATE INDEX site_relayed_commands_unforwarded ON site_relayed_commands (command_id) WHERE result_forwarded_at IS NULL',
        // On a site: how far each stream without a per-device sequence reached the hub (alerts, audit).
        `CREATE TABLE site_relay_positions (
          stream ${key} PRIMARY KEY,
          position TEXT NOT NULL
        )`,
      ];
    },
  },
  {
    version: 14,
    name: 'site timestamp keys',
    // The key each site signs TUF timestamps with, which the hub's root lists in the timestamp role.
    up: () => ['ALTER TABLE sites ADD COLUMN tuf_timestamp_public_key_pem TEXT'],
  },
];
