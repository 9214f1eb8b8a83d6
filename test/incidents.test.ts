import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type {
  AlertSignal,
  AuditEntriesView,
  IncidentDetailView,
  IncidentListView,
  IncidentView,
} from '@edgeward/core';
import pg from 'pg';
import { runEdgeward } from './support/cli-process.ts';
import { httpsJson } from './support/https-json.ts';
import { startTestManager, type TestManager } from './support/test-manager.ts';

const postgresUrl = process.env.EDGEWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MINUTE_MS = 60_000;

const playbook = [
  'title: Malware on a device',
  'types: [malware]',
  'steps:',
  '  - id: capture',
  '    title: Capture volatile data',
  '    phase: open',
  '  - id: isolate',
  '    title: Isolate, keeping the PLC link',
  '    phase: contained',
  '  - id: reimage',
  '    title: Reimage from the golden image',
  '    phase: eradicated',
].join('\n');

function signal(deviceId: string, firstSeen: number): AlertSignal {
  return {
    ruleId: 'ew-fim-critical-file',
    ruleTitle: 'Change to a critical system file',
    kind: 'detection',
    groupKey: `["${deviceId}"]`,
    groupFields: { deviceId },
    severity: 'high',
    tier: 'high',
    firstSeen,
    lastSeen: firstSeen,
    count: 1,
    eventRefs: [{ deviceId, seq: 1, id: `${deviceId}-evt-1` }],
    deviceIds: [deviceId],
    response: [],
    route: [],
    update: false,
    source: 'agent',
  };
}

/** A device in the registry, a policy with a playbook, and an alert on the device raised ten minutes after its first event. */
async function setUp(hub: TestManager, deviceId: string) {
  await hub.manager.store.devices.create({
    id: deviceId,
    name: deviceId,
    labels: {},
    enrolledAt: Date.now(),
    enrollmentTokenId: null,
    lastSeenAt: null,
    reportIntervalMs: 60_000,
    agentVersion: 'test',
    inventoryVersion: 0,
    revokedAt: null,
  });
  const applied = await call(hub, 'POST', '/api/v1/policy/versions', hub.adminToken, {
    files: [{ path: 'playbooks/malware.yaml', text: playbook }],
    message: 'malware playbook',
  });
  assert.equal(applied.status, 201, JSON.stringify(applied.body));
  const { alertId } = await hub.manager.services.alerts.raise(signal(deviceId, Date.now() - 10 * MINUTE_MS));
  return { alertId };
}

function call<T = Record<string, unknown>>(
  hub: TestManager,
  method: string,
  path: string,
  token: string,
  body?: unknown,
) {
  return httpsJson<T & { error?: { code: string; message: string } }>(new URL(path, hub.operatorUrl), {
    method,
    ca: hub.manager.pki.rootCaPem,
    token,
    body,
  });
}

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`incidents over the operator API on ${engine}`, () => {
    let hub: TestManager;
    const schema = `Ew Incidents ${process.pid}-${Date.now()}`;
    before(async () => {
      hub = await startTestManager(
        engine === 'postgres' ? { database: postgresUrl, databaseSchema: schema } : {},
      );
    });
    after(async () => {
      await hub.close();
      if (engine !== 'postgres') return;
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    });

    test('an incident goes open → contained → eradicated → closed with its playbook, timeline, times and audit entries', async () => {
      const deviceId = `dev-inc-${engine}`;
      const { alertId } = await setUp(hub, deviceId);
      const admin = hub.adminToken;
      const opened = await call<IncidentView>(hub, 'POST', '/api/v1/incidents', admin, {
        deviceId,
        alertId,
        title: 'ransom note on the HMI',
        type: 'malware',
      });
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      const id = opened.body.id;
      assert.equal(opened.body.state, 'open');
      assert.equal(opened.body.playbookId, 'malware');
      assert.deepEqual(
        opened.body.steps.map((step) => [step.id, step.doneAt]),
        [
          ['capture', null],
          ['isolate', null],
          ['reimage', null],
        ],
      );
      const ttd = opened.body.timeToDetectMs ?? 0;
      assert.ok(ttd >= 10 * MINUTE_MS - 1000 && ttd <= 10 * MINUTE_MS + 5000, `time to detect ${ttd}`);
      assert.equal(opened.body.timeToContainMs, null);

      // The file change behind the alert, as the device reported it; and a routine event the timeline leaves out.
      await hub.manager.store.events.ingest(
        deviceId,
        [
          {
            seq: 1,
            id: `${deviceId}-evt-1`,
            type: 'fim.modified',
            severity: 'high',
            time: Date.now() - 10 * MINUTE_MS,
            data: { TargetFilename: '/etc/passwd' },
          },
          {
            seq: 2,
            id: `${deviceId}-evt-2`,
            type: 'agent.started',
            severity: 'info',
            time: Date.now() - 9 * MINUTE_MS,
            data: {},
          },
        ],
        Date.now(),
      );
      const isolate = await call(hub, 'POST', `/api/v1/devices/${deviceId}/isolate`, admin, {
        reason: 'contain',
      });
      assert.equal(isolate.status, 201);
      assert.equal((await call(hub, 'POST', `/api/v1/incidents/${id}/steps/capture`, admin, {})).status, 200);
      const contained = await call<IncidentView>(hub, 'POST', `/api/v1/incidents/${id}/state`, admin, {
        state: 'contained',
        note: 'isolated, PLC link kept',
      });
      assert.equal(contained.body.state, 'contained');
      assert.ok((contained.body.timeToContainMs ?? -1) >= 0);
      const back = await call(hub, 'POST', `/api/v1/incidents/${id}/state`, admin, { state: 'open' });
      assert.equal(back.status, 409);
      assert.equal(back.body.error?.code, 'EW_INCIDENT_STATE_INVALID');
      const unknownStep = await call(hub, 'POST', `/api/v1/incidents/${id}/steps/pray`, admin, {});
      assert.equal(unknownStep.body.error?.code, 'EW_PLAYBOOK_STEP_NOT_FOUND');
      await call(hub, 'POST', `/api/v1/incidents/${id}/assign`, admin, { assignee: 'bob' });
      await call(hub, 'POST', `/api/v1/incidents/${id}/notes`, admin, {
        text: 'dropper came in over the vendor VPN',
      });
      // Skipping recovered: eradicated then closed.
      await call(hub, 'POST', `/api/v1/incidents/${id}/state`, admin, { state: 'eradicated' });
      const closeWithoutResolution = await call(hub, 'POST', `/api/v1/incidents/${id}/state`, admin, {
        state: 'closed',
      });
      assert.equal(closeWithoutResolution.status, 409);
      const closed = await call<IncidentView>(hub, 'POST', `/api/v1/incidents/${id}/close`, admin, {
        resolution: 'reimaged; VPN account disabled',
      });
      assert.equal(closed.body.state, 'closed');
      assert.ok(
        closed.body.closedAt !== null && closed.body.recoveredAt !== null,
        'closing reaches recovered too',
      );
      assert.equal(
        (await call(hub, 'POST', `/api/v1/incidents/${id}/assign`, admin, { assignee: 'eve' })).status,
        409,
        'a closed incident takes notes only',
      );
      assert.equal(
        (await call(hub, 'POST', `/api/v1/incidents/${id}/notes`, admin, { text: 'post-mortem on Monday' }))
          .status,
        200,
      );

      const shown = await call<IncidentDetailView>(hub, 'GET', `/api/v1/incidents/${id}`, admin);
      const kinds = shown.body.timeline.map((item) => `${item.source}:${item.kind}`);
      for (const expected of [
        'alert:first-seen',
        'event:fim.modified',
        'alert:created',
        'incident:opened',
        'incident:step',
        'action:isolate',
        'incident:state',
        'incident:assigned',
        'incident:note',
        'incident:closed',
      ]) {
        assert.ok(kinds.includes(expected), `${expected} in ${kinds.join(', ')}`);
      }
      assert.equal(kinds.includes('event:agent.started'), false, 'routine events stay out');
      const times = shown.body.timeline.map((item) => item.at);
      assert.deepEqual(
        times,
        [...times].sort((a, b) => a - b),
        'in time order',
      );
      assert.equal(shown.body.assignee, 'bob');
      assert.equal(shown.body.steps.find((step) => step.id === 'capture')?.doneBy, 'admin');

      const { body: chain } = await call<AuditEntriesView>(
        hub,
        'GET',
        '/api/v1/audit/entries?limit=1000',
        admin,
      );
      const actions = chain.entries
        .filter((entry) => entry.subject === id)
        .reverse()
        .map((entry) => entry.details.action);
      assert.deepEqual(actions, [
        'incident.open',
        'incident.step',
        'incident.state',
        'incident.assign',
        'incident.note',
        'incident.state',
        'incident.close',
        'incident.note',
      ]);
      assert.equal((await call<{ ok: boolean }>(hub, 'GET', '/api/v1/audit/verify', admin)).body.ok, true);

      const active = await call<IncidentListView>(hub, 'GET', '/api/v1/incidents?active=true', admin);
      assert.equal(
        active.body.incidents.some((incident) => incident.id === id),
        false,
      );
      const byDevice = await call<IncidentListView>(
        hub,
        'GET',
        `/api/v1/incidents?device=${deviceId}`,
        admin,
      );
      assert.deepEqual(
        byDevice.body.incidents.map((incident) => incident.id),
        [id],
      );
    });

    test('a viewer reads incidents but cannot open or change them; unknown ids are named', async () => {
      const viewer = await call<{ token: string }>(hub, 'POST', '/api/v1/operators', hub.adminToken, {
        name: `viewer-${engine}`,
        role: 'viewer',
      });
      const refused = await call(hub, 'POST', '/api/v1/incidents', viewer.body.token, {
        deviceId: 'dev-x',
        title: 'x',
      });
      assert.equal(refused.status, 403);
      assert.equal((await call(hub, 'GET', '/api/v1/incidents', viewer.body.token)).status, 200);
      const missing = await call(hub, 'GET', '/api/v1/incidents/inc-nope', hub.adminToken);
      assert.equal(missing.body.error?.code, 'EW_INCIDENT_NOT_FOUND');
      const noDevice = await call(hub, 'POST', '/api/v1/incidents', hub.adminToken, {
        deviceId: 'dev-nope',
        title: 'x',
      });
      assert.equal(noDevice.body.error?.code, 'EW_DEVICE_NOT_FOUND');
      // An alert about another device cannot open an incident on this one.
      const { alertId } = await hub.manager.services.alerts.raise(signal(`dev-other-${engine}`, Date.now()));
      const otherDevice = `dev-mismatch-${engine}`;
      await hub.manager.store.devices.create({
        id: otherDevice,
        name: otherDevice,
        labels: {},
        enrolledAt: Date.now(),
        enrollmentTokenId: null,
        lastSeenAt: null,
        reportIntervalMs: 60_000,
        agentVersion: 'test',
        inventoryVersion: 0,
        revokedAt: null,
      });
      const mismatched = await call(hub, 'POST', '/api/v1/incidents', hub.adminToken, {
        deviceId: otherDevice,
        alertId,
        title: 'wrong device',
      });
      assert.equal(mismatched.status, 400, JSON.stringify(mismatched.body));
    });
  });
}

describe('incidents through the CLI', () => {
  let hub: TestManager;
  before(async () => {
    hub = await startTestManager();
  });
  after(() => hub.close());

  test('edgeward incidents open, list, step, state, assign, note, show and close', async () => {
    const deviceId = 'dev-inc-cli';
    const { alertId } = await setUp(hub, deviceId);
    const api = [
      '--api',
      hub.operatorUrl,
      '--token',
      hub.adminToken,
      '--ca-file',
      join(hub.dir, 'pki', 'root-ca.crt'),
    ];
    const opened = await runEdgeward([
      'incidents',
      'open',
      '--device',
      deviceId,
      '--alert',
      alertId,
      '--title',
      'ransom note on the HMI',
      '--type',
      'malware',
      '--json',
      ...api,
    ]);
    assert.equal(opened.code, 0, opened.stderr);
    const id = (JSON.parse(opened.stdout) as IncidentView).id;
    const run = async (...args: string[]) => {
      const result = await runEdgeward(['incidents', ...args, ...api]);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };
    assert.match(await run('step', id, 'capture', '--note', 'bundle 6f1c'), /1 of 3 steps done/);
    assert.match(
      await run('state', id, 'contained', '--note', 'isolated'),
      /contained, assignee -, time to contain/,
    );
    assert.match(await run('assign', id, 'bob'), /assignee bob/);
    await run('note', id, 'vendor VPN');
    assert.match(await run('list', '--active'), new RegExp(`${id}\\s+contained\\s+${deviceId}\\s+bob`));
    const shown = await run('show', id);
    assert.match(shown, /time to detect: {2}10m/);
    assert.match(shown, /\[x\] capture: Capture volatile data — admin/);
    assert.match(shown, /\[ \] reimage/);
    assert.match(shown, /incident +admin +vendor VPN/);
    const wrong = await runEdgeward(['incidents', 'state', id, 'open', ...api]);
    assert.equal(wrong.code, 5, wrong.stderr);
    assert.match(wrong.stderr, /EW_INCIDENT_STATE_INVALID/);
    assert.match(await run('close', id, '--resolution', 'reimaged'), /closed/);
    assert.match(await run('list', '--state', 'closed'), new RegExp(id));
  });
});
