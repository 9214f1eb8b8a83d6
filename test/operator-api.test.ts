import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { httpsJson } from './support/https-json.ts';
import { startTestManager, type TestManager } from './support/test-manager.ts';

let hub: TestManager;
before(async () => {
  hub = await startTestManager();
});
after(async () => {
  await hub.close();
});

function call(
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<{
  status: number;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}> {
  return httpsJson(new URL(path, hub.operatorUrl), { method, ca: hub.manager.pki.rootCaPem, token, body });
}

/** Every operator endpoint, with a body a writer would send. */
const endpoints: [method: string, path: string, body?: unknown][] = [
  ['GET', '/api/v1/fleet'],
  ['GET', '/api/v1/fleet/overview'],
  ['GET', '/api/v1/stream'],
  ['GET', '/api/v1/devices'],
  ['GET', '/api/v1/devices/dev-0'],
  ['GET', '/api/v1/devices/dev-0/history'],
  ['POST', '/api/v1/devices/dev-0/revoke', { reason: 'x' }],
  ['POST', '/api/v1/devices/dev-0/isolate', { reason: 'x' }],
  ['POST', '/api/v1/devices/dev-0/release', { reason: 'x' }],
  ['GET', '/api/v1/devices/dev-0/commands'],
  ['GET', '/api/v1/devices/dev-0/updates'],
  ['POST', '/api/v1/devices/dev-0/capture', { reason: 'x' }],
  ['GET', '/api/v1/evidence'],
  ['GET', '/api/v1/evidence/ev-0'],
  ['GET', '/api/v1/evidence/ev-0/content'],
  ['GET', '/api/v1/artifacts'],
  ['POST', '/api/v1/artifacts', {}],
  ['POST', '/api/v1/artifacts/firmware/floor', { version: '1.0' }],
  ['GET', '/api/v1/rollouts'],
  ['GET', '/api/v1/rollouts/ro-0'],
  ['GET', '/api/v1/rollouts/ro-0/devices'],
  ['POST', '/api/v1/rollouts', {}],
  ['POST', '/api/v1/rollouts/ro-0/pause', { reason: 'x' }],
  ['GET', '/api/v1/patches/sla'],
  ['POST', '/api/v1/tuf/root-draft', {}],
  ['POST', '/api/v1/tuf/root', {}],
  ['GET', '/api/v1/incidents'],
  ['GET', '/api/v1/incidents/inc-0'],
  ['POST', '/api/v1/incidents', { deviceId: 'dev-0', title: 'x' }],
  ['POST', '/api/v1/incidents/inc-0/state', { state: 'contained' }],
  ['POST', '/api/v1/incidents/inc-0/assign', { assignee: 'x' }],
  ['POST', '/api/v1/incidents/inc-0/notes', { text: 'x' }],
  ['POST', '/api/v1/incidents/inc-0/steps/capture', {}],
  ['POST', '/api/v1/incidents/inc-0/close', { resolution: 'x' }],
  ['GET', '/api/v1/audit/devices/dev-0'],
  ['GET', '/api/v1/audit/devices/dev-0/verify'],
  ['GET', '/api/v1/events'],
  ['GET', '/api/v1/tokens'],
  ['POST', '/api/v1/tokens', { labels: {} }],
  ['DELETE', '/api/v1/tokens/et-0'],
  ['GET', '/api/v1/sites'],
  ['GET', '/api/v1/sites/plant-0'],
  ['POST', '/api/v1/sites', { id: 'plant-0' }],
  ['POST', '/api/v1/sites/plant-0/revoke', {}],
  ['GET', '/api/v1/audit/sites/plant-0'],
  ['GET', '/api/v1/audit/sites/plant-0/verify'],
  ['GET', '/api/v1/operators'],
  ['POST', '/api/v1/operators', { name: 'x', role: 'viewer' }],
  ['DELETE', '/api/v1/operators/op-0'],
  ['GET', '/api/v1/whoami'],
  ['GET', '/api/v1/actions'],
  ['GET', '/api/v1/policy/versions'],
  ['GET', '/api/v1/policy/versions/1'],
  ['POST', '/api/v1/policy/plan', { files: [] }],
  ['POST', '/api/v1/policy/versions', { files: [], message: 'x' }],
  ['POST', '/api/v1/policy/rollback', { version: 1, message: 'x' }],
  ['GET', '/api/v1/compliance'],
  ['GET', '/api/v1/compliance/devices/dev-0'],
  ['GET', '/api/v1/alerts'],
  ['GET', '/api/v1/alerts/noise'],
  ['GET', '/api/v1/alerts/volume'],
  ['GET', '/api/v1/alerts/alr-0'],
  ['POST', '/api/v1/alerts/alr-0/ack', {}],
  ['POST', '/api/v1/alerts/alr-0/resolve', { resolution: 'fixed' }],
  ['POST', '/api/v1/alerts/alr-0/assign', { assignee: 'x' }],
  ['POST', '/api/v1/alerts/alr-0/comment', { text: 'x' }],
  ['POST', '/api/v1/alerts/alr-0/suppress', { until: '1h' }],
  ['GET', '/api/v1/alert-deliveries'],
  ['GET', '/api/v1/audit/verify'],
  ['GET', '/api/v1/audit/entries'],
  ['GET', '/api/v1/audit/export'],
];

test('the endpoint list above covers every operator route the server has', () => {
  const tree = hub.manager.operatorServer.printRoutes({ commonPrefix: false });
  const methods = [...tree.matchAll(/\(([^)]+)\)/g)].flatMap((match) =>
    (match[1] ?? '').split(', ').filter((method) => method !== 'HEAD'),
  );
  // Five routes are public: the dashboard page and its files, the health check, signing in and out.
  assert.equal(methods.length, endpoints.length + 5);
});

test('every operator endpoint refuses a call without a token, and with an unknown one', async () => {
  for (const [method, path, body] of endpoints) {
    const missing = await call(method, path, undefined, body);
    assert.equal(missing.status, 401, `${method} ${path}`);
    assert.equal(missing.body.error?.code, 'EW_OPERATOR_TOKEN_MISSING');
    const unknown = await call(method, path, 'ewo_not-a-token', body);
    assert.equal(unknown.status, 401, `${method} ${path}`);
    assert.equal(unknown.body.error?.code, 'EW_OPERATOR_TOKEN_INVALID');
  }
});

test('a viewer reads but cannot write anything', async () => {
  const viewer = await call('POST', '/api/v1/operators', hub.adminToken, { name: 'vera', role: 'viewer' });
  assert.equal(viewer.status, 201);
  const token = viewer.body.token as string;
  assert.equal((await call('GET', '/api/v1/devices', token)).status, 200);
  assert.equal((await call('GET', '/api/v1/fleet', token)).status, 200);
  assert.equal((await call('GET', '/api/v1/events?severity=high&since=1h', token)).status, 200);
  assert.equal((await call('GET', '/api/v1/policy/versions', token)).status, 200);
  assert.equal((await call('GET', '/api/v1/compliance?days=7', token)).status, 200);
  assert.equal((await call('GET', '/api/v1/audit/verify', token)).status, 200);
  assert.equal((await call('GET', '/api/v1/audit/entries?limit=5', token)).status, 200);
  // The export carries every recorded action: admins only.
  assert.equal((await call('GET', '/api/v1/audit/export', token)).status, 403);
  // Planning changes nothing, so a viewer may do it (an empty folder compiles to the default policy).
  assert.equal((await call('POST', '/api/v1/policy/plan', token, { files: [] })).status, 200);
  const writes = endpoints.filter(([method, path]) => method !== 'GET' && path !== '/api/v1/policy/plan');
  for (const [method, path, body] of writes) {
    const refused = await call(method, path, token, body);
    assert.equal(refused.status, 403, `${method} ${path}`);
    assert.equal(refused.body.error?.code, 'EW_OPERATOR_ROLE_INSUFFICIENT');
  }
});

test('an operator creates tokens but cannot manage operators; each write is recorded with who and when', async () => {
  const created = await call('POST', '/api/v1/operators', hub.adminToken, { name: 'otto', role: 'operator' });
  const token = created.body.token as string;
  const before = Date.now();
  const enrollmentToken = await call('POST', '/api/v1/tokens', token, {
    labels: { site: 'plant-b' },
    ttlMs: 3_600_000,
  });
  assert.equal(enrollmentToken.status, 201);
  assert.equal((await call('GET', '/api/v1/operators', token)).status, 403);
  // Revoking a whole site is for admins.
  assert.equal((await call('POST', '/api/v1/sites/plant-0/revoke', token, {})).status, 403);
  const revoked = await call('DELETE', `/api/v1/tokens/${enrollmentToken.body.id as string}`, token);
  assert.equal(revoked.status, 200);
  assert.equal(revoked.body.state, 'revoked');
  const { body } = await call('GET', '/api/v1/actions?limit=10', hub.adminToken);
  const actions = body.actions as { operatorName: string; action: string; target: string; at: number }[];
  const byOtto = actions.filter((action) => action.operatorName === 'otto');
  assert.deepEqual(
    byOtto.map((action) => [action.action, action.target]),
    [
      ['token.revoke', enrollmentToken.body.id],
      ['token.create', enrollmentToken.body.id],
    ],
  );
  assert.ok(byOtto.every((action) => action.at >= before && action.at <= Date.now()));
});

test('the last admin cannot be revoked', async () => {
  const { body } = await call('GET', '/api/v1/operators', hub.adminToken);
  const admins = (body.operators as { id: string; role: string }[]).filter(
    (operator) => operator.role === 'admin',
  );
  assert.equal(admins.length, 1);
  const refused = await call('DELETE', `/api/v1/operators/${admins[0]?.id}`, hub.adminToken);
  assert.equal(refused.status, 409);
  assert.equal(refused.body.error?.code, 'EW_LAST_ADMIN');
});

test('a malformed request names the bad field', async () => {
  const bad = await call('POST', '/api/v1/tokens', hub.adminToken, { labels: { 'Bad Key': 'x' }, ttlMs: 10 });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error?.code, 'EW_REQUEST_INVALID');
  assert.match(bad.body.error?.message ?? '', /labels/);
  assert.match(bad.body.error?.message ?? '', /ttlMs/);
});
