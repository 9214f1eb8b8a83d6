/**
 * Alerts end to end on a real manager (SQLite): signals raised by the hub's rule engine (the service) and by
 * agents (`alert.raised` events posted over mutual TLS), their lifecycle (merge, escalation, reopen,
 * suppression, auto-resolve with a clock moved by hand), the operator API with its roles, the noise
 * figures, and the `edgeward alerts` commands.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AgentFiles, enrollAgent, ManagerClient } from '@edgeward/agent';
import type {
  AlertDetailView,
  AlertListView,
  AlertNoiseView,
  AlertSignal,
  AlertView,
  DeviceEvent,
  EventBatchReply,
} from '@edgeward/core';
import { runEdgeward } from './support/cli-process.ts';
import { httpsJson } from './support/https-json.ts';
import { startTestManager, type TestManager } from './support/test-manager.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const admin = { id: 'test', name: 'test', role: 'admin' as const };

const refs = (deviceId: string, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, index) => ({
    deviceId,
    seq: from + index,
    id: `${deviceId}-evt-${from + index}`,
  }));

/** A hub signal of `ruleId` for user root on dev-a: 5 failed logins, events 1–5. */
function signal(ruleId: string, overrides: Partial<AlertSignal> = {}): AlertSignal {
  const time = Date.now() - MINUTE_MS;
  return {
    ruleId,
    ruleTitle: `Rule ${ruleId}`,
    kind: 'correlation',
    groupKey: '["root"]',
    groupFields: { user: 'root' },
    severity: 'medium',
    tier: 'medium',
    firstSeen: time,
    lastSeen: time + 4_000,
    count: 5,
    eventRefs: refs('dev-a', 1, 5),
    deviceIds: ['dev-a'],
    response: [],
    route: [],
    update: false,
    source: 'hub',
    ...overrides,
  };
}

interface Reply<T> {
  status: number;
  body: T & { error?: { code: string; message: string } };
}

function call<T = Record<string, unknown>>(
  hub: TestManager,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<Reply<T>> {
  return httpsJson<T>(new URL(path, hub.operatorUrl), { method, ca: hub.manager.pki.rootCaPem, token, body });
}

describe('alert lifecycle', () => {
  let hub: TestManager;
  before(async () => {
    hub = await startTestManager({ alertAutoResolveMs: DAY_MS });
  });
  after(() => hub.close());
  const alerts = () => hub.manager.services.alerts;

  test('signals of one rule and group merge into one alert; a repeat or a replay counts nothing', async () => {
    const first = await alerts().raise(signal('merge'));
    assert.equal(first.outcome, 'created');
    // The rule engine's suppression: the same burst grew from 5 to 8 events, on a second device.
    const grown = await alerts().raise(
      signal('merge', {
        update: true,
        count: 8,
        eventRefs: [...refs('dev-a', 1, 5), ...refs('dev-b', 1, 3)],
        deviceIds: ['dev-a', 'dev-b'],
        lastSeen: Date.now(),
      }),
    );
    assert.deepEqual([grown.alertId, grown.outcome], [first.alertId, 'merged']);
    // The same update delivered twice, and an older update arriving late.
    assert.equal((await alerts().raise(signal('merge', { update: true, count: 8 }))).outcome, 'duplicate');
    assert.equal((await alerts().raise(signal('merge', { update: true, count: 6 }))).outcome, 'duplicate');
    // The first signal replayed (a restarted engine) holds only events the alert has.
    assert.equal((await alerts().raise(signal('merge'))).outcome, 'duplicate');
    // A new burst of the same group adds its whole count.
    await alerts().raise(
      signal('merge', { count: 2, eventRefs: refs('dev-c', 40, 41), deviceIds: ['dev-c'] }),
    );
    // Another group of the rule is another alert.
    const other = await alerts().raise(
      signal('merge', { groupKey: '["admin"]', groupFields: { user: 'admin' } }),
    );
    assert.notEqual(other.alertId, first.alertId);

    const alert = await alerts().show(first.alertId);
    assert.equal(alert.count, 10);
    assert.deepEqual(alert.deviceIds, ['dev-a', 'dev-b', 'dev-c']);
    assert.deepEqual(
      alert.eventRefs.map((ref) => `${ref.deviceId}#${ref.seq}`),
      [
        'dev-a#1',
        'dev-a#2',
        'dev-a#3',
        'dev-a#4',
        'dev-a#5',
        'dev-b#1',
        'dev-b#2',
        'dev-b#3',
        'dev-c#40',
        'dev-c#41',
      ],
    );
    assert.deepEqual(
      alert.history.map((entry) => entry.kind),
      ['created'],
    );
  });

  test('event references stay bounded at 50 however many signals merge', async () => {
    const { alertId } = await alerts().raise(
      signal('bounded', { eventRefs: refs('dev-a', 1, 50), count: 50 }),
    );
    for (let burst = 1; burst <= 3; burst++) {
      await alerts().raise(
        signal('bounded', { eventRefs: refs('dev-a', burst * 100, burst * 100 + 49), count: 50 }),
      );
    }
    const alert = await alerts().show(alertId);
    assert.equal(alert.count, 200);
    assert.equal(alert.eventRefs.length, 50);
    assert.equal(alert.eventRefs[0]?.seq, 1, 'the first events are kept');
  });

  test('severity and tier only escalate, and an escalation is recorded and notified', async () => {
    const { alertId } = await alerts().raise(signal('escalate', { severity: 'medium', tier: 'medium' }));
    const higher = await alerts().raise(
      signal('escalate', { severity: 'critical', tier: 'high', count: 1, eventRefs: refs('dev-a', 9, 9) }),
    );
    assert.equal(higher.notified, 'escalated');
    const lower = await alerts().raise(
      signal('escalate', { severity: 'low', tier: 'low', count: 1, eventRefs: refs('dev-a', 10, 10) }),
    );
    assert.equal(lower.notified, undefined);
    const alert = await alerts().show(alertId);
    assert.deepEqual([alert.severity, alert.tier, alert.count], ['critical', 'high', 7]);
    assert.deepEqual(
      alert.history.map((entry) => [entry.kind, entry.change]),
      [
        ['created', { count: 5, severity: 'medium', tier: 'medium' }],
        [
          'escalated',
          { from: { severity: 'medium', tier: 'medium' }, to: { severity: 'critical', tier: 'high' } },
        ],
      ],
    );
  });

  test('a resolved alert reopens when its rule fires again, but not for a signal it already counted', async () => {
    const { alertId } = await alerts().raise(signal('reopen'));
    await alerts().resolve(admin, alertId, 'fixed', 'patched');
    assert.equal((await alerts().raise(signal('reopen'))).outcome, 'duplicate');
    assert.equal((await alerts().show(alertId)).state, 'resolved');

    const again = await alerts().raise(signal('reopen', { eventRefs: refs('dev-a', 20, 22), count: 3 }));
    assert.deepEqual([again.alertId, again.outcome, again.notified], [alertId, 'reopened', 'reopened']);
    const alert = await alerts().show(alertId);
    assert.deepEqual(
      [alert.state, alert.reopenedCount, alert.resolution, alert.resolvedAt, alert.count],
      ['open', 1, null, null, 8],
    );
    assert.deepEqual(
      alert.history.map((entry) => entry.kind),
      ['created', 'resolved', 'reopened'],
    );
    assert.deepEqual(
      alert.comments.map((comment) => [comment.author, comment.text]),
      [['test', 'patched']],
    );
  });

  test('a suppressed alert merges silently until the suppression ends', async () => {
    const { alertId } = await alerts().raise(signal('suppress', { severity: 'high', tier: 'high' }));
    await alerts().acknowledge(admin, alertId);
    const suppressed = await alerts().suppress(admin, alertId, '2h', 'maintenance');
    assert.equal(suppressed.state, 'suppressed');
    const silent = await alerts().raise(
      signal('suppress', {
        severity: 'critical',
        tier: 'critical',
        count: 4,
        eventRefs: refs('dev-a', 30, 33),
      }),
    );
    assert.deepEqual([silent.outcome, silent.notified], ['merged', undefined]);
    let alert = await alerts().show(alertId);
    assert.deepEqual([alert.state, alert.count, alert.tier], ['suppressed', 9, 'critical']);

    hub.clock.offsetMs += 2 * HOUR_MS + MINUTE_MS;
    try {
      const swept = await alerts().sweep();
      assert.ok(swept.unsuppressed >= 1);
      alert = await alerts().show(alertId);
      assert.deepEqual([alert.state, alert.suppressedUntil], ['acknowledged', null], 'back to acknowledged');
      assert.equal(
        (
          await alerts().raise(
            signal('suppress', { tier: 'critical', count: 1, eventRefs: refs('dev-a', 40, 40) }),
          )
        ).notified,
        undefined,
        'a merge into an acknowledged alert notifies nobody',
      );
    } finally {
      hub.clock.offsetMs -= 2 * HOUR_MS + MINUTE_MS;
    }
  });

  test('alerts quiet for alertAutoResolveMs resolve as auto; suppressed and active ones do not', async () => {
    const quiet = await alerts().raise(signal('auto-quiet'));
    const silenced = await alerts().raise(signal('auto-silenced'));
    await alerts().suppress(admin, silenced.alertId, '3d');
    hub.clock.offsetMs += DAY_MS - MINUTE_MS;
    const active = await alerts().raise(signal('auto-active'));
    hub.clock.offsetMs += 2 * MINUTE_MS;
    try {
      await alerts().sweep();
      const states = async () =>
        Promise.all(
          [quiet, silenced, active].map(async ({ alertId }) => {
            const alert = await alerts().show(alertId);
            return [alert.state, alert.resolution];
          }),
        );
      assert.deepEqual(await states(), [
        ['resolved', 'auto'],
        ['suppressed', null],
        ['open', null],
      ]);
      const history = (await alerts().show(quiet.alertId)).history.at(-1);
      assert.deepEqual([history?.actor, history?.kind], ['system', 'resolved']);
      // It recurs: reopened, and counted as raised again.
      const reopened = await alerts().raise(
        signal('auto-quiet', { eventRefs: refs('dev-a', 50, 50), count: 1 }),
      );
      assert.equal(reopened.outcome, 'reopened');
    } finally {
      hub.clock.offsetMs -= DAY_MS + MINUTE_MS;
    }
  });

  test('noise per rule: alerts per day, median time to acknowledge, share of false positives', async () => {
    const start = hub.clock.offsetMs;
    try {
      const raised: string[] = [];
      for (const user of ['u1', 'u2', 'u3', 'u4']) {
        raised.push(
          (await alerts().raise(signal('noisy', { groupKey: `["${user}"]`, groupFields: { user } }))).alertId,
        );
      }
      const [a, b, c, d] = raised as [string, string, string, string];
      hub.clock.offsetMs += 10 * MINUTE_MS;
      await alerts().acknowledge(admin, a);
      hub.clock.offsetMs += 20 * MINUTE_MS;
      await alerts().acknowledge(admin, b);
      hub.clock.offsetMs += 30 * MINUTE_MS;
      await alerts().acknowledge(admin, c);
      await alerts().resolve(admin, a, 'false-positive');
      await alerts().resolve(admin, b, 'false-positive');
      await alerts().resolve(admin, c, 'fixed');
      await alerts().raise(signal('quiet-rule'));
      const noise = await alerts().noise(2);
      const noisy = noise.rules.find((rule) => rule.ruleId === 'noisy');
      // Acknowledged 10, 30 and 60 minutes after opening, plus the milliseconds the test itself takes.
      const median = noisy?.medianTimeToAcknowledgeMs ?? 0;
      assert.ok(median >= 30 * MINUTE_MS && median < 30 * MINUTE_MS + 5_000, `median ${median}`);
      assert.deepEqual(
        { ...noisy, medianTimeToAcknowledgeMs: 30 * MINUTE_MS },
        {
          ruleId: 'noisy',
          ruleTitle: 'Rule noisy',
          raised: 4,
          alertsPerDay: 2,
          acknowledged: 3,
          medianTimeToAcknowledgeMs: 30 * MINUTE_MS,
          resolved: 3,
          falsePositive: 2,
          falsePositiveShare: 0.667,
          autoResolved: 0,
          unresolved: 1,
        },
      );
      assert.equal(noise.rules[0]?.ruleId, 'noisy', 'noisiest first');
      assert.ok(d);
    } finally {
      hub.clock.offsetMs = start;
    }
  });
});

describe('alerts through the operator API', () => {
  let hub: TestManager;
  let operatorToken: string;
  let viewerToken: string;
  let adaId: string;
  before(async () => {
    hub = await startTestManager();
    const ada = await call<{ token: string; id: string }>(hub, 'POST', '/api/v1/operators', hub.adminToken, {
      name: 'ada',
      role: 'operator',
    });
    operatorToken = ada.body.token;
    adaId = ada.body.id;
    const vera = await call<{ token: string }>(hub, 'POST', '/api/v1/operators', hub.adminToken, {
      name: 'vera',
      role: 'viewer',
    });
    viewerToken = vera.body.token;
  });
  after(() => hub.close());

  test('an operator acknowledges, assigns, comments and resolves; each is recorded; a viewer only reads', async () => {
    const { alertId } = await hub.manager.services.alerts.raise(
      signal('api-flow', { tier: 'high', severity: 'high' }),
    );
    const path = `/api/v1/alerts/${alertId}`;
    for (const [method, suffix, body] of [
      ['POST', '/ack', {}],
      ['POST', '/assign', { assignee: 'ada' }],
      ['POST', '/comment', { text: 'x' }],
      ['POST', '/resolve', { resolution: 'fixed' }],
      ['POST', '/suppress', { until: '1h' }],
    ] as const) {
      const refused = await call(hub, method, `${path}${suffix}`, viewerToken, body);
      assert.equal(refused.status, 403, suffix);
      assert.equal(refused.body.error?.code, 'EW_OPERATOR_ROLE_INSUFFICIENT');
    }
    assert.equal((await call(hub, 'GET', path, viewerToken)).status, 200);

    const acked = await call<AlertView>(hub, 'POST', `${path}/ack`, operatorToken, {});
    assert.equal(acked.body.state, 'acknowledged');
    const assigned = await call<AlertView>(hub, 'POST', `${path}/assign`, operatorToken, { assignee: 'ada' });
    assert.deepEqual(assigned.body.assignee, { id: adaId, name: 'ada' });
    const toViewer = await call(hub, 'POST', `${path}/assign`, operatorToken, { assignee: 'vera' });
    assert.deepEqual([toViewer.status, toViewer.body.error?.code], [400, 'EW_REQUEST_INVALID']);
    const toNobody = await call(hub, 'POST', `${path}/assign`, operatorToken, { assignee: 'nobody' });
    assert.deepEqual([toNobody.status, toNobody.body.error?.code], [404, 'EW_OPERATOR_NOT_FOUND']);
    await call(hub, 'POST', `${path}/comment`, operatorToken, { text: 'brute force from the guest VLAN' });
    const resolved = await call<AlertView>(hub, 'POST', `${path}/resolve`, operatorToken, {
      resolution: 'false-positive',
      note: 'pentest',
    });
    assert.deepEqual([resolved.body.state, resolved.body.resolution], ['resolved', 'false-positive']);
    const again = await call(hub, 'POST', `${path}/resolve`, operatorToken, { resolution: 'fixed' });
    assert.deepEqual([again.status, again.body.error?.code], [409, 'EW_ALERT_STATE_CONFLICT']);
    const ackResolved = await call(hub, 'POST', `${path}/ack`, operatorToken, {});
    assert.equal(ackResolved.body.error?.code, 'EW_ALERT_STATE_CONFLICT');

    const detail = (await call<AlertDetailView>(hub, 'GET', path, viewerToken)).body;
    assert.deepEqual(
      detail.comments.map((comment) => [comment.author, comment.text]),
      [
        ['ada', 'brute force from the guest VLAN'],
        ['ada', 'pentest'],
      ],
    );
    assert.deepEqual(
      detail.history.map((entry) => [entry.actor, entry.kind]),
      [
        ['hub', 'created'],
        ['ada', 'acknowledged'],
        ['ada', 'assigned'],
        ['ada', 'commented'],
        ['ada', 'resolved'],
      ],
    );
    const actions = await hub.manager.store.actions.list({ target: alertId });
    assert.deepEqual(actions.map((action) => [action.operatorName, action.action]).reverse(), [
      ['ada', 'alert.acknowledge'],
      ['ada', 'alert.assign'],
      ['ada', 'alert.comment'],
      ['ada', 'alert.resolve'],
    ]);
  });

  test('suppress takes a time ahead and refuses one in the past; an unknown alert is 404', async () => {
    const { alertId } = await hub.manager.services.alerts.raise(signal('api-suppress'));
    const path = `/api/v1/alerts/${alertId}/suppress`;
    const past = await call(hub, 'POST', path, operatorToken, { until: '2000-01-01T00:00:00Z' });
    assert.deepEqual([past.status, past.body.error?.code], [400, 'EW_REQUEST_INVALID']);
    const garbage = await call(hub, 'POST', path, operatorToken, { until: 'soon' });
    assert.match(garbage.body.error?.message ?? '', /until "soon" is not a time/);
    const until = Date.now() + 3 * HOUR_MS;
    const suppressed = await call<AlertView>(hub, 'POST', path, operatorToken, { until: String(until) });
    assert.deepEqual([suppressed.body.state, suppressed.body.suppressedUntil], ['suppressed', until]);
    const missing = await call(hub, 'GET', '/api/v1/alerts/alr-nope', viewerToken);
    assert.deepEqual([missing.status, missing.body.error?.code], [404, 'EW_ALERT_NOT_FOUND']);
    const badResolution = await call(hub, 'POST', `/api/v1/alerts/${alertId}/resolve`, operatorToken, {
      resolution: 'auto',
    });
    assert.deepEqual([badResolution.status, badResolution.body.error?.code], [400, 'EW_REQUEST_INVALID']);
  });

  test('lists newest activity first with filters, and pages with a cursor', async () => {
    const service = hub.manager.services.alerts;
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      const { alertId } = await service.raise(
        signal('api-list', {
          groupKey: `["g${index}"]`,
          groupFields: { n: String(index) },
          tier: index % 2 === 0 ? 'high' : 'low',
          severity: index === 4 ? 'critical' : 'low',
          deviceIds: [`dev-list-${index}`],
        }),
      );
      ids.push(alertId);
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    await service.acknowledge(admin, ids[1]!);
    await service.assign(admin, ids[3]!, 'ada');
    const list = async (query: string) =>
      (await call<AlertListView>(hub, 'GET', `/api/v1/alerts?rule=api-list&${query}`, viewerToken)).body;
    assert.deepEqual(
      (await list('')).alerts.map((alert) => alert.id),
      [...ids].reverse(),
    );
    assert.deepEqual(
      (await list('tier=high')).alerts.map((alert) => alert.id),
      [ids[4], ids[2], ids[0]],
    );
    assert.deepEqual(
      (await list('severity=critical')).alerts.map((alert) => alert.id),
      [ids[4]],
    );
    assert.deepEqual(
      (await list('state=acknowledged')).alerts.map((alert) => alert.id),
      [ids[1]],
    );
    assert.deepEqual(
      (await list('device=dev-list-2')).alerts.map((alert) => alert.id),
      [ids[2]],
    );
    assert.deepEqual(
      (await list('assignee=ada')).alerts.map((alert) => alert.id),
      [ids[3]],
    );
    assert.deepEqual((await list('since=1h')).alerts.length, 5);
    const first = await list('limit=2');
    assert.equal(first.alerts.length, 2);
    assert.ok(first.nextBefore);
    const second = await list(`limit=2&before=${first.nextBefore}`);
    const third = await list(`limit=2&before=${second.nextBefore}`);
    assert.deepEqual(
      [...first.alerts, ...second.alerts, ...third.alerts].map((alert) => alert.id),
      [...ids].reverse(),
    );
    assert.equal(third.nextBefore, null);
    const bad = await call(hub, 'GET', '/api/v1/alerts?before=garbage', viewerToken);
    assert.equal(bad.body.error?.code, 'EW_REQUEST_INVALID');
  });

  test('noise over the API counts per rule', async () => {
    const { body } = await call<AlertNoiseView>(hub, 'GET', '/api/v1/alerts/noise?days=7', viewerToken);
    assert.equal(body.days, 7);
    const listRule = body.rules.find((rule) => rule.ruleId === 'api-list');
    assert.deepEqual([listRule?.raised, listRule?.unresolved], [5, 5]);
    const flow = body.rules.find((rule) => rule.ruleId === 'api-flow');
    assert.deepEqual([flow?.resolved, flow?.falsePositiveShare, flow?.acknowledged], [1, 1, 1]);
  });

  test('the edgeward alerts commands list, show, acknowledge, resolve and measure noise', async () => {
    const { alertId } = await hub.manager.services.alerts.raise(
      signal('cli-rule', { tier: 'critical', severity: 'critical', groupFields: { host: 'gw-7' } }),
    );
    const api = [
      '--api',
      hub.operatorUrl,
      '--token',
      operatorToken,
      '--ca-file',
      join(hub.dir, 'pki', 'root-ca.crt'),
    ];
    const listed = await runEdgeward(['alerts', 'list', '--rule', 'cli-rule', '--tier', 'critical', ...api]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${alertId}\\s+critical\\s+critical\\s+open\\s+5 `));
    assert.match(listed.stdout, /host=gw-7/);
    const acked = await runEdgeward(['alerts', 'ack', alertId, ...api]);
    assert.equal(acked.code, 0, acked.stderr);
    const resolved = await runEdgeward([
      'alerts',
      'resolve',
      alertId,
      '--false-positive',
      '-m',
      'lab device',
      ...api,
    ]);
    assert.equal(resolved.code, 0, resolved.stderr);
    assert.match(resolved.stdout, /resolved .* as false-positive/);
    const shown = await runEdgeward(['alerts', 'show', alertId, '--json', ...api]);
    const detail = JSON.parse(shown.stdout) as AlertDetailView;
    assert.deepEqual(
      [detail.state, detail.resolution, detail.comments[0]?.text],
      ['resolved', 'false-positive', 'lab device'],
    );
    const noise = await runEdgeward(['alerts', 'noise', '--days', '1', ...api]);
    assert.match(noise.stdout, /cli-rule\s+1\s+1\s+\S+\s+1\s+1 \(100%\)/);
    const missing = await runEdgeward(['alerts', 'ack', 'alr-nope', ...api]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /EW_ALERT_NOT_FOUND/);
  });
});

describe('alerts raised by agents', () => {
  let hub: TestManager;
  let work: string;
  const clients: ManagerClient[] = [];
  before(async () => {
    hub = await startTestManager();
    work = await mkdtemp(join(tmpdir(), 'edgeward-alert-agents-'));
  });
  after(async () => {
    for (const client of clients) client.close();
    await hub.close();
    await rm(work, { recursive: true, force: true });
  });

  async function enrolledDevice(name: string): Promise<{ deviceId: string; client: ManagerClient }> {
    const dataDir = join(work, name);
    const token = await hub.manager.services.tokens.create(admin, {}, HOUR_MS);
    const { deviceId } = await enrollAgent({
      managerUrl: hub.deviceUrl,
      token: token.token,
      caFingerprint: hub.manager.pki.caFingerprint,
      dataDir,
      hostname: name,
      agentVersion: 'test',
      reportIntervalMs: 1000,
      timeoutMs: 5000,
    });
    const files = new AgentFiles(dataDir);
    const chain = await files.readText('chain.pem');
    const client = new ManagerClient({
      managerUrl: hub.deviceUrl,
      ca: `${await files.readText('ca.pem')}${chain}`,
      keyPem: await files.readKey(),
      certChainPem: `${await files.readText('cert.pem')}${chain}`,
      timeoutMs: 10_000,
    });
    clients.push(client);
    return { deviceId, client };
  }

  function raisedEvent(seq: number, data: Record<string, unknown>): DeviceEvent {
    return {
      seq,
      id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
      type: 'alert.raised',
      severity: 'high',
      time: Date.now() - 1000,
      data,
    };
  }

  const post = async (client: ManagerClient, events: DeviceEvent[]) =>
    (await client.post<EventBatchReply>('/v1/events', { v: 1, events })).body;

  test("an agent's alert.raised event raises an alert once, however often the batch is sent", async () => {
    const { deviceId, client } = await enrolledDevice('agent-alerts');
    const { source: _source, ...data } = signal('agent-rule', {
      groupKey: '["sshd"]',
      groupFields: { service: 'sshd' },
      tier: 'high',
      severity: 'high',
      eventRefs: refs(deviceId, 1, 5),
      // An agent may only speak for itself: the other device and its event are dropped.
      deviceIds: [deviceId, 'dev-elsewhere'],
    });
    const login = (seq: number): DeviceEvent => ({
      seq,
      id: `00000000-0000-4000-9000-${String(seq).padStart(12, '0')}`,
      type: 'auth.login_failed',
      severity: 'medium',
      time: Date.now() - 2000,
      data: { user: 'root' },
    });
    const batch = [login(1), login(2), login(3), login(4), login(5), raisedEvent(6, data)];
    assert.equal((await post(client, batch)).ackedSeq, 6);
    assert.equal((await post(client, batch)).ackedSeq, 6, 'the same batch again');

    const list = await hub.manager.services.alerts.list({ rule: 'agent-rule', limit: 10 });
    assert.equal(list.alerts.length, 1);
    const [alert] = list.alerts;
    assert.deepEqual(
      [alert?.source, alert?.count, alert?.deviceIds, alert?.tier],
      ['agent', 5, [deviceId], 'high'],
    );
    // The agent's update of the same burst: counted once more by what it grew.
    const update = raisedEvent(7, { ...data, update: true, count: 7 });
    await post(client, [update]);
    await post(client, [{ ...update, seq: 8 }]);
    const merged = await hub.manager.services.alerts.show(alert!.id);
    assert.equal(merged.count, 7);
  });

  test('an alert.raised event without a valid signal is stored and raises nothing', async () => {
    const { deviceId, client } = await enrolledDevice('agent-bad');
    assert.equal((await post(client, [raisedEvent(1, { ruleId: 'broken' })])).ackedSeq, 1);
    const stored = await hub.manager.store.events.query({ deviceId, type: 'alert.raised' });
    assert.equal(stored.length, 1);
    assert.deepEqual((await hub.manager.services.alerts.list({ rule: 'broken', limit: 10 })).alerts, []);
  });
});
