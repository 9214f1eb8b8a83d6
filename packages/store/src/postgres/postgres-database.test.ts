import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { connectTestPostgres, oddSchemaName, testPostgresUrl } from '../contract/engines.ts';
import { createStore } from '../index.ts';
import { quoteIdentifier } from './postgres-database.ts';

describe('PostgreSQL engine', () => {
  // Upper case, a space, a quote and a backslash: every quoting layer (SQL, startup options) must hold.
  const schema = `${oddSchemaName('Engine')} "q" \\ end`;
  let admin: pg.Client | undefined;

  before(async () => {
    admin = await connectTestPostgres();
  });
  after(async () => {
    await admin?.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
    await admin?.end();
  });

  it('creates the missing schema and puts every table in it', async () => {
    assert.ok(admin);
    const store = await createStore({ database: testPostgresUrl, schema });
    await store.meta.set('fleet.id', 'f-1');
    await store.close();
    const tables = await admin.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
      [schema],
    );
    assert.deepEqual(
      tables.rows.map((row) => row.table_name),
      [
        'alert_deliveries',
        'alert_devices',
        'alert_digest_items',
        'alert_history',
        'alert_notes',
        'alerts',
        'artifact_floors',
        'artifacts',
        'audit_checkpoints',
        'audit_entries',
        'certificates',
        'compliance_history',
        'compliance_results',
        'compliance_state',
        'device_artifact_versions',
        'device_audit_anchors',
        'device_audit_entries',
        'device_commands',
        'device_isolation',
        'device_labels',
        'devices',
        'enrollment_tokens',
        'event_delivery',
        'event_gaps',
        'events',
        'evidence_bundles',
        'incident_timeline',
        'incidents',
        'inventory_changes',
        'inventory_snapshots',
        'meta',
        'operator_actions',
        'operators',
        'policy_versions',
        'rollout_devices',
        'rollouts',
        'schema_migrations',
        'site_overlays',
        'site_relay_positions',
        'site_relayed_commands',
        'site_uplink',
        'sites',
        'syslog_outbox',
        'tuf_metadata',
      ],
    );
    const meta = await admin.query(`SELECT value FROM ${quoteIdentifier(schema)}.meta`);
    assert.deepEqual(meta.rows, [{ value: 'f-1' }]);
  });

  it('returns BIGINT as a number without changing pg’s global type parsers', async () => {
    const store = await createStore({ database: testPostgresUrl, schema });
    try {
      await store.operators.create({
        id: 'op-1',
        name: 'Ada',
        role: 'admin',
        tokenHash: 'h',
        createdAt: 1_700_000_000_123,
        createdBy: 'bootstrap',
        revokedAt: null,
      });
      assert.equal((await store.operators.findById('op-1'))?.createdAt, 1_700_000_000_123);
      assert.equal(await store.operators.countActiveAdmins(), 1);
      assert.equal(pg.types.getTypeParser(20, 'text')('12'), '12');
    } finally {
      await store.close();
    }
  });

  it('reports an unreachable server as EW_DATABASE_UNAVAILABLE without showing the password', async () => {
    await assert.rejects(
      createStore({ database: 'postgres://edgeward:s3cret@127.0.0.1:1/edgeward' }),
      (error: unknown) => {
        assert.equal((error as { code?: unknown }).code, 'EW_DATABASE_UNAVAILABLE');
        assert.match((error as Error).message, /127\.0\.0\.1:1/);
        assert.doesNotMatch((error as Error).message, /s3cret/);
        return true;
      },
    );
  });
});
